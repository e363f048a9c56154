/**
 * `dat devnet` as real processes: `--state` keeps contracts, balances, stakes and published rounds
 * across restarts (the chain is rebuilt block for block), the funded accounts are printed, and a
 * devnet started in the background of a shell with job control is not stopped by SIGTTOU.
 */
import fs from "node:fs";
import path from "node:path";
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Address, Hex } from "viem";
import { cleanEnv, datBin, jsonOf, removeTempDirs, repoRoot, runDat, tempDir } from "../cli/helpers.js";
import { loadAccount } from "../../src/crypto/keystore.js";
import { connectChain, type ChainConnection } from "../../src/chain/clients.js";
import { settleRound } from "../../src/chain/settle.js";
import { claimRewards, readPublishedRounds } from "../../src/chain/rewards.js";
import { getStake, readSlashes, setJobMinStake, stakeForJob } from "../../src/chain/staking.js";
import { DatToken } from "../../src/chain/artifacts/index.js";
import { openDatabase } from "../../src/db/index.js";
import { openLocalStore } from "../../src/store/local.js";
import { updateConfig } from "../../src/config/index.js";

const PASS = "correct horse battery staple";
const env = { DAT_PASSPHRASE: PASS };
const TOKENS = 10n ** 18n;

interface Ready {
  url: string; chainId: number; token: Address; registry: Address; distributor: Address; staking: Address; blockNumber: number;
  operator: Address; restored: boolean; state: string | null; accounts: { address: Address; privateKey: Hex }[];
}

interface Running { child: ChildProcessWithoutNullStreams; exit: Promise<number | null>; ready: Ready; stderr: () => string }

const operatorHome = tempDir().home;
const contributorHome = tempDir().home;
const cheaterHome = tempDir().home;
const statePath = path.join(tempDir().dir, "devnet.state");
let running: Running | undefined;

/** Start `dat --json devnet` and wait (with a deadline) for its one stdout line. */
function startDevnetProcess(args: string[]): Promise<Running> {
  const child = spawn(process.execPath, [datBin, "--home", operatorHome, "--json", "devnet", "--port", "0", "--accounts", "3", ...args], {
    cwd: repoRoot, env: cleanEnv(env), stdio: ["pipe", "pipe", "pipe"], detached: true,
  });
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    let stdout = "";
    const timer = setTimeout(() => reject(new Error(`devnet not ready after 90 s:\n${stderr}`)), 90_000);
    child.stdout.on("data", (d) => {
      stdout += d;
      const newline = stdout.indexOf("\n");
      if (newline >= 0) {
        clearTimeout(timer);
        resolve({ child, exit, ready: JSON.parse(stdout.slice(0, newline)) as Ready, stderr: () => stderr });
      }
    });
    child.on("exit", (code) => reject(new Error(`devnet exited with ${code}:\n${stderr}`)));
  });
}

async function stop(r: Running): Promise<void> {
  r.child.kill("SIGTERM");
  expect(await r.exit).toBe(0);
}

async function connect(home: string, url: string): Promise<ChainConnection> {
  return connectChain({ rpcUrl: url, account: await loadAccount(home, PASS) });
}

async function rpc(url: string, method: string, params: unknown[]): Promise<any> {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
  return ((await response.json()) as { result: unknown }).result;
}

beforeAll(async () => {
  for (const home of [operatorHome, contributorHome, cheaterHome]) {
    const init = await runDat(["--home", home, "--json", "init"], { env });
    expect(init.code, init.stderr).toBe(0);
  }
});

afterAll(async () => {
  if (running && running.child.exitCode === null) running.child.kill("SIGTERM");
  await running?.exit;
  removeTempDirs();
});

describe("dat devnet --state", () => {
  it("a restarted devnet keeps contracts, balances, stakes, slashes and published rounds", async () => {
    // Prepare: a devnet with a state file; a contributor and a cheater stake in job 7; round 0 pays
    // the contributor and slashes the cheater; the contributor claims.
    running = await startDevnetProcess(["--state", statePath]);
    const first = running.ready;
    expect(first.restored).toBe(false);
    expect(first.accounts).toHaveLength(3);
    expect(first.accounts[0].address).toBe("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
    const operator = await connect(operatorHome, first.url);
    const contributor = await connect(contributorHome, first.url);
    const cheater = await connect(cheaterHome, first.url);
    for (const c of [contributor, cheater]) {
      const address = c.walletClient!.account.address;
      await rpc(first.url, "hardhat_setBalance", [address, "0xde0b6b3a7640000"]);
      await operator.walletClient!.writeContract({ address: first.token, abi: DatToken.abi, functionName: "transfer", args: [address, 20n * TOKENS] })
        .then((hash) => operator.publicClient.waitForTransactionReceipt({ hash }));
    }
    await setJobMinStake(operator.publicClient, operator.walletClient!, { staking: first.staking, jobId: "7", amount: 5n * TOKENS });
    for (const c of [contributor, cheater]) await stakeForJob(c.publicClient, c.walletClient!, { staking: first.staking, jobId: "7", amount: 5n * TOKENS });
    const db = openDatabase(operatorHome);
    const store = openLocalStore(operatorHome);
    const settled = await settleRound({
      db, store, publicClient: operator.publicClient, walletClient: operator.walletClient!, distributor: first.distributor,
      jobId: "7", round: 0, modelCid: "bafkreimodel7", rewardTotal: 12n * TOKENS,
      scores: [{ address: contributor.walletClient!.account.address, score: 1 }], slashes: [cheater.walletClient!.account.address],
    });
    db.close();
    await claimRewards({ publicClient: contributor.publicClient, walletClient: contributor.walletClient!, distributor: first.distributor, fromBlock: first.blockNumber, store });
    const snapshot = async (url: string) => {
      const c = await connect(contributorHome, url);
      const address = c.walletClient!.account.address;
      const head = await rpc(url, "eth_getBlockByNumber", ["latest", false]);
      return {
        dat: await c.publicClient.readContract({ address: first.token, abi: DatToken.abi, functionName: "balanceOf", args: [address] }),
        eth: await c.publicClient.getBalance({ address }),
        stake: await getStake(c.publicClient, { staking: first.staking, jobId: "7", account: address }),
        cheaterStake: await getStake(c.publicClient, { staking: first.staking, jobId: "7", account: cheater.walletClient!.account.address }),
        rounds: await readPublishedRounds({ publicClient: c.publicClient, distributor: first.distributor, fromBlock: first.blockNumber, jobId: "7" }),
        slashes: await readSlashes(c.publicClient, { staking: first.staking, fromBlock: first.blockNumber, jobId: "7" }),
        head: { number: head.number as string, hash: head.hash as string },
      };
    };
    const before = await snapshot(first.url);
    expect(before.dat).toBe(15n * TOKENS + 12n * TOKENS);
    expect(before.rounds).toHaveLength(1);
    expect(before.slashes).toHaveLength(1);
    expect(running.stderr()).toMatch(/"event":"devnet.tx","method":"RewardDistributor.publishRound","hash":"0x[0-9a-f]{64}","gasUsed":"\d+"/);

    // Execute: stop, start again from the same file.
    await stop(running);
    running = await startDevnetProcess(["--state", statePath]);
    const second = running.ready;

    // Assert: same addresses, same chain (head block hash), same balances, stakes, rounds and slashes.
    expect(second.restored).toBe(true);
    expect({ ...second, url: undefined, restored: undefined }).toEqual({ ...first, url: undefined, restored: undefined });
    const after = await snapshot(second.url);
    expect(after).toEqual(before);
    expect(after.rounds[0].txHash).toBe(settled.txHash);
    const config = JSON.parse(fs.readFileSync(path.join(operatorHome, "config.json"), "utf8"));
    expect(config.chain.rpcUrl).toBe(second.url);
    expect(config.chain.deployments[String(second.chainId)].staking).toBe(first.staking);

    // The contributor's CLI sees the claimed round on the restored chain.
    await updateConfig(contributorHome, (cfg) => ({ ...cfg, chain: { rpcUrl: second.url, chainId: second.chainId, deployments: config.chain.deployments } }));
    await openLocalStore(contributorHome).put(await store.get(settled.treeCid));
    const shown = await runDat(["--home", contributorHome, "--json", "rewards", "--job", "7"], { env });
    expect(shown.code, shown.stderr).toBe(0);
    expect(jsonOf(shown).rounds).toEqual([expect.objectContaining({ round: 0, amount: (12n * TOKENS).toString(), claimed: true })]);

    // What happens after a restart is kept as well.
    const again = await connect(contributorHome, second.url);
    await stakeForJob(again.publicClient, again.walletClient!, { staking: first.staking, jobId: "7", amount: 2n * TOKENS });
    await stop(running);
    running = await startDevnetProcess(["--state", statePath]);
    const third = await connect(contributorHome, running.ready.url);
    expect((await getStake(third.publicClient, { staking: first.staking, jobId: "7", account: third.walletClient!.account.address })).stake).toBe(7n * TOKENS);
    await stop(running);
  });

  it("refuses a state file it did not write, and a malformed --state", async () => {
    const bogus = path.join(tempDir().dir, "bogus.state");
    fs.writeFileSync(bogus, "{\"hello\":1}\n");
    const bad = await runDat(["--home", operatorHome, "--json", "devnet", "--port", "0", "--state", bogus], { env });
    expect(bad.code).toBe(3);
    expect(JSON.parse(bad.stdout).error.code).toBe("BAD_DEVNET_STATE");
    const empty = await runDat(["--home", operatorHome, "--json", "devnet", "--port", "0", "--state", ""], { env });
    expect(empty.code).toBe(2);
  });
});

function hasScript(): boolean {
  try {
    execFileSync("script", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("dat devnet in the background", () => {
  // A job-control shell on a pseudo-terminal (util-linux `script`), as `dat init && dat devnet &` in a
  // terminal: the devnet is a background process group with stderr on the terminal. Anything that
  // changes terminal modes (a spinner's raw stdin, say) stops it with SIGTTOU (state T).
  it.skipIf(!hasScript())("keeps running (not stopped by SIGTTOU) and serves the chain", () => {
    const dir = tempDir().dir;
    const out = path.join(dir, "devnet.out");
    const shell = [
      "set -m",
      `"${process.execPath}" "${datBin}" --home "${operatorHome}" devnet --port 0 --accounts 1 > "${out}" &`,
      "pid=$!",
      "result=TIMEOUT",
      "for i in $(seq 1 360); do",
      "  st=$(ps -o stat= -p $pid | tr -d ' ')",
      `  if grep -q "rpc url" "${out}"; then result="READY $st"; break; fi`,
      "  case \"$st\" in T*) result=\"STOPPED $st\"; break;; esac",
      "  sleep 0.25",
      "done",
      `echo "$result" > "${out}.result"`,
      // A stopped process would not act on SIGTERM before SIGCONT: kill it outright then.
      "case \"$result\" in READY*) kill -TERM $pid;; *) kill -KILL $pid;; esac",
      "wait $pid",
    ].join("\n");
    const script = path.join(dir, "bg.sh");
    fs.writeFileSync(script, shell);
    execFileSync("script", ["-qec", `bash ${script}`, "/dev/null"], { env: cleanEnv(env), stdio: "ignore", timeout: 120_000 });
    const result = fs.readFileSync(`${out}.result`, "utf8").trim();
    expect(result).toMatch(/^READY [^T]/);
    expect(fs.readFileSync(out, "utf8")).toContain("PUBLIC TEST KEYS");
  });
});
