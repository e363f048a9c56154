/**
 * The "done when", through the built CLI: `dat devnet` (a child process) deploys and
 * funds the operator; a round is settled for three contributors; `dat rewards` shows each one's
 * amount; each claims with `dat rewards claim`; balances match the scores; claiming again pays
 * nothing; `dat round publish` of the settled round sends no second transaction.
 */
import fs from "node:fs";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getAddress, type Address } from "viem";
import { cleanEnv, datBin, jsonOf, removeTempDirs, repoRoot, runDat, tempDir } from "../cli/helpers.js";
import { loadAccount } from "../../src/crypto/keystore.js";
import { connectChain } from "../../src/chain/clients.js";
import { settleRound } from "../../src/chain/settle.js";
import { openDatabase } from "../../src/db/index.js";
import { openLocalStore } from "../../src/store/local.js";
import { updateConfig } from "../../src/config/index.js";

const PASS = "correct horse battery staple";
const env = { DAT_PASSPHRASE: PASS };
const TOKENS = 10n ** 18n;

interface Ready { url: string; chainId: number; token: Address; registry: Address; distributor: Address; blockNumber: number; operator: Address }

let devnet: ChildProcessWithoutNullStreams;
let devnetExit: Promise<number | null>;
let ready: Ready;
const operatorHome = tempDir().home;
const contributorHomes = [tempDir().home, tempDir().home, tempDir().home];
const contributorAddresses: Address[] = [];

/** Wait for the first stdout line of `dat --json devnet` (its result), with a deadline. */
function waitForReady(child: ChildProcessWithoutNullStreams, deadlineMs: number): Promise<Ready> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => reject(new Error(`devnet not ready after ${deadlineMs} ms:\n${stderr}`)), deadlineMs);
    child.stderr.on("data", (d) => (stderr += d));
    child.stdout.on("data", (d) => {
      stdout += d;
      const newline = stdout.indexOf("\n");
      if (newline >= 0) {
        clearTimeout(timer);
        resolve(JSON.parse(stdout.slice(0, newline)) as Ready);
      }
    });
    child.on("exit", (code) => reject(new Error(`devnet exited with ${code}:\n${stderr}`)));
  });
}

async function rpc(method: string, params: unknown[]): Promise<unknown> {
  const response = await fetch(ready.url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  return ((await response.json()) as { result: unknown }).result;
}

beforeAll(async () => {
  for (const home of [operatorHome, ...contributorHomes]) {
    const init = await runDat(["--home", home, "--json", "init"], { env });
    expect(init.code, init.stderr).toBe(0);
    if (home !== operatorHome) contributorAddresses.push(jsonOf(init).address);
  }
  devnet = spawn(process.execPath, [datBin, "--home", operatorHome, "--json", "devnet", "--port", "0", "--accounts", "2"], {
    cwd: repoRoot, env: cleanEnv(), stdio: ["pipe", "pipe", "pipe"],
  });
  devnetExit = new Promise((resolve) => devnet.on("exit", (code) => resolve(code)));
  ready = await waitForReady(devnet, 60_000);
  // Contributors need gas money to claim; on a real chain they bring their own.
  for (const address of contributorAddresses) {
    const funded = await runDat(["--home", operatorHome, "--json", "devnet", "fund", "--address", address, "--eth", "1"], { env });
    expect(funded.code, funded.stderr).toBe(0);
  }
  for (const home of contributorHomes) {
    await updateConfig(home, (cfg) => ({
      ...cfg,
      chain: { rpcUrl: ready.url, chainId: ready.chainId, deployments: { [ready.chainId]: {
        token: ready.token, registry: ready.registry, distributor: ready.distributor, blockNumber: ready.blockNumber } } },
    }));
  }
});

afterAll(async () => {
  if (devnet && devnet.exitCode === null) devnet.kill("SIGTERM");
  await devnetExit;
  removeTempDirs();
});

describe("dat devnet, settlement, dat rewards, dat rewards claim", () => {
  it("pays three contributors by score, each exactly once", async () => {
    // Prepare: the devnet wrote the deployment into the operator's config and funded the operator.
    const operatorConfig = JSON.parse(fs.readFileSync(`${operatorHome}/config.json`, "utf8"));
    expect(operatorConfig.chain.deployments[String(ready.chainId)].distributor).toBe(ready.distributor);
    const account = await loadAccount(operatorHome, PASS);
    expect(ready.operator).toBe(account.address);
    const chain = await connectChain({ rpcUrl: ready.url, account, expectedChainId: ready.chainId });
    const db = openDatabase(operatorHome);
    const store = openLocalStore(operatorHome);

    // Execute: settle round 0 of job 7 (what `dat round start` does when the round closes).
    const settled = await settleRound({
      db, store, publicClient: chain.publicClient, walletClient: chain.walletClient!, distributor: ready.distributor,
      jobId: "7", round: 0, modelCid: "bafkreimodel", rewardTotal: 60n * TOKENS,
      scores: contributorAddresses.map((address, i) => ({ address, score: i + 1 })),
    });
    db.close();
    // The tree reaches contributors through a shared store (Lighthouse); with local stores, copy it.
    const tree = await store.get(settled.treeCid);
    for (const home of contributorHomes) expect(await openLocalStore(home).put(tree)).toBe(settled.treeCid);

    // Assert
    for (const [i, home] of contributorHomes.entries()) {
      const expected = BigInt(i + 1) * 10n * TOKENS;
      const shown = await runDat(["--home", home, "--json", "rewards", "--job", "7"], { env });
      expect(shown.code, shown.stderr).toBe(0);
      const report = jsonOf(shown);
      expect(report.rounds).toEqual([expect.objectContaining({ jobId: "7", round: 0, amount: expected.toString(), claimed: false })]);
      expect(report.claimable).toBe(expected.toString());

      const claim = await runDat(["--home", home, "--json", "rewards", "claim"], { env });
      expect(claim.code, claim.stderr).toBe(0);
      expect(jsonOf(claim).balance).toBe(expected.toString());
      expect(jsonOf(claim).txHashes).toHaveLength(1);

      const again = await runDat(["--home", home, "--json", "rewards", "claim"], { env });
      expect(again.code, again.stderr).toBe(0);
      expect(jsonOf(again).claimed).toEqual([]);
      expect(jsonOf(again).balance).toBe(expected.toString());
    }
    const human = await runDat(["--home", contributorHomes[0], "rewards"], { env });
    expect(human.stdout).toContain("claimed");
    // Human output: the address checksummed, amounts as people read them.
    expect(human.stdout).toContain(`Rewards of ${getAddress(contributorAddresses[0])}`);
    expect(human.stdout).toMatch(/earned 10 DAT · claimed 10 DAT · claimable 0 DAT/);
    // A job with nothing on chain that the orchestrator does not know either does not exist: exit 4, not an empty report.
    const unknown = await runDat(["--home", contributorHomes[0], "--json", "rewards", "--job", "99"], { env });
    expect(unknown.code, unknown.stdout + unknown.stderr).toBe(4);
    expect(JSON.parse(unknown.stdout).error.code).toBe("JOB_NOT_FOUND");

    // Publishing the same round again (the `dat round publish` path) sends nothing and pays nobody twice.
    const { roundPublish } = await import("../../src/cli/commands/round/publish.js");
    const { createContext } = await import("../../src/cli/context.js");
    const { Output } = await import("../../src/cli/output.js");
    const captured: string[] = [];
    const sink = { write: (t: string) => (captured.push(t), true), isTTY: false } as unknown as NodeJS.WriteStream;
    const ctx = { ...createContext({ home: operatorHome, json: true }, cleanEnv(env)), out: new Output({ json: true, quiet: true, stdout: sink, stderr: sink }) };
    const nonce = await chain.publicClient.getTransactionCount({ address: account.address });
    await roundPublish(ctx, { job: "7", round: "0" });
    const republished = JSON.parse(captured.find((t) => t.includes("alreadyPublished"))!);
    expect(republished.alreadyPublished).toBe(true);
    expect(await chain.publicClient.getTransactionCount({ address: account.address })).toBe(nonce);
  });

  it("rejects malformed options with usage errors", async () => {
    const badAddress = await runDat(["--home", contributorHomes[0], "--json", "rewards", "--address", "0x123"], { env });
    expect(badAddress.code).toBe(2);
    expect(JSON.parse(badAddress.stdout).error.code).toBe("BAD_ADDRESS");
    const badJob = await runDat(["--home", contributorHomes[0], "--json", "rewards", "--job", "../etc"], { env });
    expect(badJob.code).toBe(2);
    const badPort = await runDat(["--home", operatorHome, "--json", "devnet", "--port", "eighty"], { env });
    expect(badPort.code).toBe(2);
  });

  it("reports an RPC that is down as a network error (exit 6)", async () => {
    const home = tempDir().home;
    fs.cpSync(contributorHomes[0], home, { recursive: true });
    await updateConfig(home, (cfg) => ({ ...cfg, chain: { ...(cfg.chain as object), rpcUrl: "http://127.0.0.1:9" } }));
    const down = await runDat(["--home", home, "--json", "rewards"], { env });
    expect(down.code).toBe(6);
    expect(JSON.parse(down.stdout).error.code).toBe("RPC_UNREACHABLE");
  });

  it("dat chain deploy deploys with the home's wallet and records the addresses per chain id", async () => {
    const home = tempDir().home;
    fs.cpSync(contributorHomes[2], home, { recursive: true });
    const wrongChain = await runDat(["--home", home, "--rpc-url", ready.url, "--json", "chain", "deploy", "--chain", "sepolia"], { env });
    expect(wrongChain.code).toBe(3);
    expect(JSON.parse(wrongChain.stdout).error.code).toBe("WRONG_CHAIN");
    const unknown = await runDat(["--home", home, "--rpc-url", ready.url, "--json", "chain", "deploy", "--chain", "atlantis"], { env });
    expect(unknown.code).toBe(2);

    const deployed = await runDat(["--home", home, "--rpc-url", ready.url, "--json", "chain", "deploy", "--chain", String(ready.chainId)], { env });

    expect(deployed.code, deployed.stderr).toBe(0);
    const result = jsonOf(deployed);
    expect(result.distributor).not.toBe(ready.distributor);
    const config = JSON.parse(fs.readFileSync(`${home}/config.json`, "utf8"));
    expect(config.chain.deployments[String(ready.chainId)].distributor).toBe(result.distributor);
  });

  it("dat devnet fund sets ETH, mints DAT with the owner's wallet, and refuses bad input", async () => {
    const address = "0x00000000000000000000000000000000000f00d5" as Address;
    const funded = await runDat(["--home", operatorHome, "--json", "devnet", "fund", "--address", address, "--eth", "2.5", "--tokens", "40"], { env });
    expect(funded.code, funded.stderr).toBe(0);
    expect(jsonOf(funded)).toMatchObject({ address, eth: (25n * TOKENS / 10n).toString(), tokenBalance: (40n * TOKENS).toString() });
    expect(BigInt(await rpc("eth_getBalance", [address, "latest"]) as string)).toBe(25n * TOKENS / 10n);

    // A contributor's wallet does not own the token: ETH is fine, minting is denied.
    const notOwner = await runDat(["--home", contributorHomes[0], "--json", "devnet", "fund", "--address", address, "--tokens", "1"], { env });
    expect(notOwner.code).toBe(5);
    expect(JSON.parse(notOwner.stdout).error.code).toBe("NOT_TOKEN_OWNER");
    for (const args of [["--address", "0x123"], ["--address", address, "--eth", "-1"], ["--address", address, "--tokens", "lots"], []]) {
      const bad = await runDat(["--home", operatorHome, "--json", "devnet", "fund", ...args], { env });
      expect(bad.code, args.join(" ")).toBe(2);
    }
  });

  it("dat rewards claim decodes a revert to its reason (a claim of the same leaf already pending)", async () => {
    // Prepare: a new round for the first contributor, and its claim already sent but not mined.
    const account = await loadAccount(operatorHome, PASS);
    const chain = await connectChain({ rpcUrl: ready.url, account, expectedChainId: ready.chainId });
    const db = openDatabase(operatorHome);
    const store = openLocalStore(operatorHome);
    const settled = await settleRound({
      db, store, publicClient: chain.publicClient, walletClient: chain.walletClient!, distributor: ready.distributor,
      jobId: "8", round: 0, modelCid: "bafkreimodel8", rewardTotal: 5n * TOKENS, scores: [{ address: contributorAddresses[0], score: 1 }],
    });
    db.close();
    await openLocalStore(contributorHomes[0]).put(await store.get(settled.treeCid));
    const contributor = await connectChain({ rpcUrl: ready.url, account: await loadAccount(contributorHomes[0], PASS) });
    const { getRewards, sendClaims } = await import("../../src/chain/rewards.js");
    const entry = (await getRewards({
      publicClient: contributor.publicClient, distributor: ready.distributor, fromBlock: ready.blockNumber,
      store: openLocalStore(contributorHomes[0]), address: contributorAddresses[0], jobId: "8",
    })).entries[0];
    await rpc("evm_setAutomine", [false]);
    try {
      const pendingClaim = sendClaims(contributor.publicClient, contributor.walletClient!, ready.distributor, [entry]);
      const deadline = Date.now() + 30_000;
      while (((await rpc("eth_getBlockByNumber", ["pending", false])) as { transactions: string[] }).transactions.length === 0) {
        if (Date.now() > deadline) throw new Error("the first claim never reached the mempool");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }

      // Execute
      const claim = await runDat(["--home", contributorHomes[0], "--json", "rewards", "claim", "--job", "8"], { env });

      // Assert
      expect(claim.code, claim.stderr).toBe(7);
      const error = JSON.parse(claim.stdout).error;
      expect(error.code).toBe("REVERTED");
      expect(error.message).toContain("AlreadyClaimed");
      expect(error.data.reason).toBe("AlreadyClaimed");
      await rpc("evm_mine", []);
      await pendingClaim;
    } finally {
      await rpc("evm_setAutomine", [true]);
    }
  });

  it("stops cleanly on SIGTERM", async () => {
    devnet.kill("SIGTERM");
    expect(await devnetExit).toBe(0);
  });
});
