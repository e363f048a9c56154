/**
 * `dat node stake` and `dat node unstake [--withdraw]` as real processes against a devnet: the
 * cooldown refusal says how long is left (exit 3), bad flags are usage errors (exit 2).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Address } from "viem";
import { jsonOf, removeTempDirs, runDat, tempDir } from "../cli/helpers.js";
import { updateConfig } from "../../src/config/index.js";
import { setJobMinStake } from "../../src/chain/staking.js";
import { sendDat, startDeployedDevnet, type DeployedDevnet } from "./helpers.js";

const env = { DAT_PASSPHRASE: "correct horse battery staple" };
const TOKENS = 10n ** 18n;
const home = tempDir().home;
let chain: DeployedDevnet;
let address: Address;

beforeAll(async () => {
  chain = await startDeployedDevnet({ accounts: 1, operatorTokens: 1_000n * TOKENS });
  const init = await runDat(["--home", home, "--json", "init"], { env });
  expect(init.code, init.stderr).toBe(0);
  address = jsonOf(init).address;
  await chain.devnet.request({ method: "hardhat_setBalance", params: [address, "0xde0b6b3a7640000"] });
  await sendDat(chain, "transfer", address, 50n * TOKENS);
  await setJobMinStake(chain.operator.publicClient, chain.operator.walletClient!, { staking: chain.contracts.staking, jobId: "1", amount: 10n * TOKENS, cooldown: 7_200 });
  await updateConfig(home, (cfg) => ({ ...cfg, chain: { rpcUrl: chain.devnet.url, chainId: 31337, deployments: { "31337": chain.contracts } } }));
});

afterAll(async () => {
  await chain?.devnet.stop();
  removeTempDirs();
});

describe("dat node stake / unstake", () => {
  it("stakes, requests unstaking, refuses an early withdraw with the time left, withdraws after the cooldown", async () => {
    const staked = await runDat(["--home", home, "--json", "node", "stake", "--job", "1", "--amount", "12.5"], { env });
    expect(staked.code, staked.stderr).toBe(0);
    expect(jsonOf(staked)).toMatchObject({ stake: (125n * TOKENS / 10n).toString(), meetsMinimum: true });

    const requested = await runDat(["--home", home, "--json", "node", "unstake", "--job", "1"], { env });
    expect(requested.code, requested.stderr).toBe(0);
    expect(jsonOf(requested)).toMatchObject({ amount: (125n * TOKENS / 10n).toString(), pending: (125n * TOKENS / 10n).toString() });

    const early = await runDat(["--home", home, "node", "unstake", "--job", "1", "--withdraw"], { env });
    expect(early.code).toBe(3);
    expect(early.stderr).toMatch(/cooldown of job 1 ends in (1 h 59 min|2 h)/);
    expect(early.stderr).toContain("hint:");

    await chain.devnet.request({ method: "evm_increaseTime", params: [7_200] });
    await chain.devnet.request({ method: "evm_mine", params: [] });
    const withdrawn = await runDat(["--home", home, "--json", "node", "unstake", "--job", "1", "--withdraw"], { env });
    expect(withdrawn.code, withdrawn.stderr).toBe(0);
    expect(jsonOf(withdrawn).amount).toBe((125n * TOKENS / 10n).toString());
  });

  it("rejects malformed flags and unknown jobs", async () => {
    for (const args of [["--job", "1", "--amount", "0"], ["--job", "1", "--amount", "-3"], ["--job", "../x", "--amount", "1"], ["--job", "1", "--amount", "lots"]]) {
      const bad = await runDat(["--home", home, "--json", "node", "stake", ...args], { env });
      expect(bad.code, args.join(" ")).toBe(2);
    }
    const unknown = await runDat(["--home", home, "--json", "node", "stake", "--job", "99", "--amount", "1"], { env });
    expect(unknown.code).toBe(4);
    expect(JSON.parse(unknown.stdout).error.code).toBe("STAKING_JOB_UNKNOWN");
    const nothing = await runDat(["--home", home, "--json", "node", "unstake", "--job", "1"], { env });
    expect(nothing.code).toBe(3);
    expect(JSON.parse(nothing.stdout).error.code).toBe("NOTHING_STAKED");
  });
});
