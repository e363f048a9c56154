/**
 * The token gate against a real Hardhat Network node: the figures of a denial, the balance cache
 * (with a clock we move, no sleeps), a token address without a contract and an RPC that is down.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPublicClient, http, type Address } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { startDevnet, type Devnet } from "../../src/chain/devnet.js";
import type { ChainConnection } from "../../src/chain/clients.js";
import type { DeployedContracts } from "../../src/chain/deploy.js";
import { sendDat, startDeployedDevnet } from "../chain/helpers.js";
import { checkGate, createBalanceReader } from "../../src/inference/gate.js";
import { rejection } from "./helpers.js";

const TOKEN = 10n ** 18n;
let devnet: Devnet;
let operator: ChainConnection;
let contracts: DeployedContracts;

async function transfer(to: Address, amount: bigint) {
  await sendDat({ operator, contracts }, "transfer", to, amount);
}

beforeAll(async () => {
  ({ devnet, operator, contracts } = await startDeployedDevnet({ accounts: 1, operatorTokens: 10n * TOKEN }));
});

afterAll(async () => {
  await devnet?.stop();
});

describe("checkGate", () => {
  it("passes a holder with the figures and denies below the threshold with held vs required", async () => {
    const reader = createBalanceReader(operator.publicClient, { cacheSeconds: 0 });
    const holder = privateKeyToAccount(generatePrivateKey()).address;
    await transfer(holder, TOKEN + TOKEN / 2n);
    const ok = await checkGate(reader, { token: contracts.token, min: TOKEN }, holder);
    expect(ok).toMatchObject({ address: holder, token: contracts.token, symbol: "DAT", decimals: 18, held: TOKEN + TOKEN / 2n, required: TOKEN });

    const error = await rejection(checkGate(reader, { token: contracts.token, min: 2n * TOKEN }, holder, "7"));
    expect(error.code).toBe("GATE_INSUFFICIENT_BALANCE");
    expect(error.exitCode).toBe(5);
    expect(error.message).toBe(`Address ${holder} holds 1.5 DAT of token ${contracts.token}; job 7 requires at least 2 DAT.`);
    expect(error.details).toEqual([
      "held:     1.5 DAT (1500000000000000000 base units)",
      "required: 2 DAT (2000000000000000000 base units)",
    ]);
    expect(error.data).toMatchObject({ held: "1500000000000000000", required: "2000000000000000000", heldFormatted: "1.5", requiredFormatted: "2", jobId: "7" });
  });

  it("trusts a cached balance until the cache time has passed", async () => {
    let clock = 1_000_000;
    const reader = createBalanceReader(operator.publicClient, { cacheSeconds: 10, now: () => clock });
    const newcomer = privateKeyToAccount(generatePrivateKey()).address;
    const gate = { token: contracts.token, min: TOKEN };
    expect((await rejection(checkGate(reader, gate, newcomer))).code).toBe("GATE_INSUFFICIENT_BALANCE");
    await transfer(newcomer, TOKEN);
    clock += 9_000;
    expect((await rejection(checkGate(reader, gate, newcomer))).data).toMatchObject({ held: "0" });
    clock += 1_001;
    await expect(checkGate(reader, gate, newcomer)).resolves.toMatchObject({ held: TOKEN });
  });

  it("shares one read between concurrent checks of the same address", async () => {
    let reads = 0;
    const counting = { readContract: ((args: Parameters<typeof operator.publicClient.readContract>[0]) => { reads++; return operator.publicClient.readContract(args); }) as typeof operator.publicClient.readContract };
    const reader = createBalanceReader(counting, { cacheSeconds: 60 });
    const who = privateKeyToAccount(generatePrivateKey()).address;
    await Promise.all(Array.from({ length: 16 }, () => reader.balanceOf(contracts.token, who)));
    expect(reads).toBe(1);
  });

  it("says when no token answers at the address, and when the RPC is down", async () => {
    const reader = createBalanceReader(operator.publicClient, { cacheSeconds: 0 });
    const nowhere = privateKeyToAccount(generatePrivateKey()).address;
    const missing = await rejection(checkGate(reader, { token: nowhere, min: 1n }, nowhere));
    expect(missing.code).toBe("GATE_TOKEN_NOT_FOUND");
    expect(missing.exitCode).toBe(4);

    const spare = await startDevnet({ port: 0, accounts: 1 });
    const downUrl = spare.url;
    await spare.stop();
    const down = createBalanceReader(createPublicClient({ transport: http(downUrl, { retryCount: 0, timeout: 2000 }) }), { cacheSeconds: 0 });
    const error = await rejection(checkGate(down, { token: contracts.token, min: 1n }, nowhere));
    expect(error.code).toBe("GATE_RPC_UNREACHABLE");
    expect(error.exitCode).toBe(6);
  });
});
