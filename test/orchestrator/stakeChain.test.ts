/**
 * Stakes and slashes on a real Hardhat devnet with the embedded orchestrator (issue 13 items 3, 4):
 * - a staked job's round is judged at the block and minimum recorded when it opened: stake added
 *   after the open does not count, a stake whose unstaking was requested after the open still
 *   counts, a minimum raised after the open applies only from the next round;
 * - `dat round publish`, retrying a settlement whose first attempt failed, sends the slash list
 *   stored at close: each cheater is slashed once (Slashed events), honest stakes are untouched,
 *   a second publish sends nothing, and `dat round verify` agrees.
 */
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { privateKeyToAccount } from "viem/accounts";
import type { Address } from "viem";
import type { Devnet } from "../../src/chain/devnet.js";
import { connectChain, type ChainConnection } from "../../src/chain/clients.js";
import type { DeployedContracts } from "../../src/chain/deploy.js";
import { recordDeployment } from "../../src/chain/deploy.js";
import { getStake, readSlashes, requestUnstake, setJobMinStake, stakeForJob } from "../../src/chain/staking.js";
import { createKeystore } from "../../src/crypto/keystore.js";
import { loadConfig } from "../../src/config/index.js";
import { createEmbeddedOrchestrator, type EmbeddedOrchestrator } from "../../src/orchestrator/embedded.js";
import { publicClientStakeOracle } from "../../src/orchestrator/stake.js";
import { settleOnChain } from "../../src/orchestrator/runRound.js";
import { buildRegistration, buildSubmission } from "../../src/contributor/submission.js";
import { getRoundEcon } from "../../src/db/econ.js";
import { getSettlement } from "../../src/db/settlements.js";
import { seededRandom } from "../../src/core/privacy/index.js";
import type { ModelBlobView } from "../../src/orchestrator/modelBlob.js";
import type { RoundInfo } from "../../src/orchestrator/types.js";
import { cleanEnv } from "../cli/helpers.js";
import { sendDat, startDeployedDevnet } from "../chain/helpers.js";
import { jobInput, tempHome, tinyModel } from "./helpers.js";

const TOKENS = 10n ** 18n;
const PASS = "correct horse battery staple";

let devnet: Devnet;
let operator: ChainConnection;
let contracts: DeployedContracts;
let users: ChainConnection[];
let home: string;
let orch: EmbeddedOrchestrator | undefined;
let view: ModelBlobView;

const addressOf = (c: ChainConnection): Address => c.walletClient!.account.address;
/** The local account of a user (the wallet client's account type is wider). */
const accountOf = (c: ChainConnection) => privateKeyToAccount(devnet.accounts[1 + users.indexOf(c)]);
const stake = (who: ChainConnection, jobId: number, amount: bigint) =>
  stakeForJob(who.publicClient, who.walletClient!, { staking: contracts.staking, jobId, amount });

/** A delta = `common` direction + `own` noise (seeded), shaped like the model. */
function delta(seed: number, own = 1, common = 1): { name: string; shape: number[]; data: Float32Array }[] {
  const shared = seededRandom(1);
  const mine = seededRandom(seed);
  const gauss = (next: () => number) => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return view.specs.map((s) => ({
    name: s.name, shape: s.shape,
    data: Float32Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, () => 0.01 * (common * gauss(shared) + own * gauss(mine))),
  }));
}

/** A CLI context on the operator's home, capturing JSON results. */
async function cli() {
  const { createContext } = await import("../../src/cli/context.js");
  const { Output } = await import("../../src/cli/output.js");
  const captured: string[] = [];
  const sink = { write: (t: string) => (captured.push(t), true), isTTY: false } as unknown as NodeJS.WriteStream;
  const ctx = { ...createContext({ home, json: true }, cleanEnv({ DAT_PASSPHRASE: PASS })), out: new Output({ json: true, quiet: true, stdout: sink, stderr: sink }) };
  return { ctx, results: () => captured.filter((t) => t.trim().startsWith("{")).map((t) => JSON.parse(t)) };
}

beforeAll(async () => {
  home = tempHome();
  ({ devnet, operator, contracts } = await startDeployedDevnet({ accounts: 7, operatorTokens: 1_000n * TOKENS }));
  users = await Promise.all(devnet.accounts.slice(1).map((key) => connectChain({ rpcUrl: devnet.url, account: privateKeyToAccount(key) })));
  for (const u of users) await sendDat({ operator, contracts }, "transfer", addressOf(u), 100n * TOKENS);
  // The operator's home: its wallet (the devnet's first account, owner of the contracts) and the deployment.
  await createKeystore(home, { passphrase: PASS, privateKey: devnet.accounts[0], env: { DAT_SCRYPT_N: "1024" } });
  await recordDeployment(home, operator.publicClient.chain!.id, contracts, { rpcUrl: devnet.url });
  orch = await createEmbeddedOrchestrator({ home, staking: publicClientStakeOracle(operator.publicClient, contracts.staking) });
  ({ view } = await tinyModel());
  for (const u of users) await orch.registerNode(await buildRegistration(accountOf(u), "cpu", { cpu: "test" }));
}, 120_000);

afterAll(async () => {
  await orch?.close();
  await devnet?.stop();
  fs.rmSync(home, { recursive: true, force: true });
});

async function submit(who: ChainConnection, round: RoundInfo, tensors = delta(100 + users.indexOf(who))) {
  const built = await buildSubmission({ account: accountOf(who), round, tensors, sampleCount: 10 });
  return orch!.submit(built.submission, built.sealed);
}

describe("stakes judged when the round opened (real chain)", () => {
  it("ignores stake added after the open, keeps a stake unstaked after it, applies a raised minimum from the next round", async () => {
    const { bytes } = await tinyModel();
    const job = await orch!.createJob(jobInput({ minStake: (10n * TOKENS).toString(), minContributors: 2, rounds: 3 }), bytes);
    await setJobMinStake(operator.publicClient, operator.walletClient!, { staking: contracts.staking, jobId: job.id, amount: 10n * TOKENS, cooldown: 3_600 });
    const [a, b, c] = users;
    await stake(a, job.id, 10n * TOKENS);
    await stake(b, job.id, 5n * TOKENS);
    await stake(c, job.id, 10n * TOKENS);

    const round = await orch!.openRound(job.id);
    const opened = getRoundEcon(orch!.db, job.id, round.round);
    expect(opened.stakeBlock).toBe(Number(await operator.publicClient.getBlockNumber({ cacheTime: 0 })));
    expect(opened.openMinStake).toBe((10n * TOKENS).toString());
    // After the open: b tops up to the minimum, c asks to unstake, the operator doubles the minimum.
    await stake(b, job.id, 5n * TOKENS);
    await requestUnstake(c.publicClient, c.walletClient!, { staking: contracts.staking, jobId: job.id });
    await setJobMinStake(operator.publicClient, operator.walletClient!, { staking: contracts.staking, jobId: job.id, amount: 20n * TOKENS });
    expect((await getStake(b.publicClient, { staking: contracts.staking, jobId: job.id, account: addressOf(b) })).stake).toBe(10n * TOKENS);

    await expect(submit(a, round)).resolves.toMatchObject({ accepted: 1 });
    await expect(submit(b, round)).rejects.toMatchObject({
      code: "STAKE_TOO_LOW", exitCode: 5,
      data: { held: (5n * TOKENS).toString(), required: (10n * TOKENS).toString(), block: opened.stakeBlock },
    });
    await expect(submit(c, round)).resolves.toMatchObject({ accepted: 2 });
    expect((await orch!.closeRound(job.id)).state).toBe("published");

    // The next round opens under the raised minimum: 10 staked is no longer enough; c's stake is gone.
    const next = await orch!.openRound(job.id);
    expect(getRoundEcon(orch!.db, job.id, next.round).openMinStake).toBe((20n * TOKENS).toString());
    for (const [who, held] of [[a, 10n], [b, 10n], [c, 0n]] as const) {
      await expect(submit(who, next)).rejects.toMatchObject({ code: "STAKE_TOO_LOW", data: { held: (held * TOKENS).toString(), required: (20n * TOKENS).toString() } });
    }
    await orch!.failRound(job.id, "test over");
  }, 180_000);
});

describe("dat round publish after a failed first settlement", () => {
  it("slashes the stored list once, exactly as the first attempt would have; verify agrees", async () => {
    const { bytes } = await tinyModel();
    // More reward than the operator holds: the first settlement fails before any transaction.
    const reward = 5_000n * TOKENS;
    const job = await orch!.createJob(jobInput({ minStake: TOKENS.toString(), minContributors: 2, rounds: 1, rewardPerRound: reward.toString() }), bytes);
    await setJobMinStake(operator.publicClient, operator.walletClient!, { staking: contracts.staking, jobId: job.id, amount: TOKENS });
    const [a, b, , zero, copyA, copyB] = users;
    const stakes = new Map<ChainConnection, bigint>([[a, 2n], [b, 3n], [zero, 4n], [copyA, 5n], [copyB, 6n]].map(([u, n]) => [u as ChainConnection, (n as bigint) * TOKENS]));
    for (const [u, amount] of stakes) await stake(u, job.id, amount);
    const round = await orch!.openRound(job.id);
    await submit(a, round, delta(11));
    await submit(b, round, delta(12));
    await submit(zero, round, delta(13, 0, 0));
    const copied = delta(14);
    await submit(copyA, round, copied);
    await submit(copyB, round, copied);
    const closed = await orch!.closeRound(job.id);
    expect(closed.state).toBe("published");
    const cheaters = [zero, copyA, copyB].map((u) => addressOf(u).toLowerCase()).sort();
    expect(getRoundEcon(orch!.db, job.id, round.round).slashes).toEqual(cheaters);

    // Execute: the first attempt (as `dat round start` settles) fails; the operator gets tokens and retries.
    const { ctx, results } = await cli();
    const config = (await loadConfig({ home, env: ctx.env })).values;
    const first = await settleOnChain({ home, config, account: privateKeyToAccount(devnet.accounts[0]) })(closed);
    expect(first).toMatchObject({ status: "failed", error: expect.stringMatching(/reward pool|needs/) });
    expect(getSettlement(orch!.db, String(job.id), round.round)?.status).toBe("pending");
    expect(await readSlashes(operator.publicClient, { staking: contracts.staking, fromBlock: contracts.blockNumber, jobId: job.id })).toEqual([]);
    await sendDat({ operator, contracts }, "mint", addressOf(operator), reward);
    const { roundPublish } = await import("../../src/cli/commands/round/publish.js");
    await roundPublish(ctx, { job: String(job.id), round: String(round.round) });
    const retry = await cli();
    await roundPublish(retry.ctx, { job: String(job.id), round: String(round.round) });

    // Assert: one Slashed event per cheater, for its whole stake; honest stakes untouched; the
    // second publish sent nothing.
    const [published] = results();
    const [again] = retry.results();
    expect(published).toMatchObject({ alreadyPublished: false });
    expect(published.slashed.map((x: string) => x.toLowerCase())).toEqual(cheaters);
    expect(again).toMatchObject({ alreadyPublished: true, slashed: [] });
    const events = await readSlashes(operator.publicClient, { staking: contracts.staking, fromBlock: contracts.blockNumber, jobId: job.id });
    expect(events.map((e) => e.account.toLowerCase()).sort()).toEqual(cheaters);
    for (const e of events) {
      const who = users.find((u) => addressOf(u) === e.account)!;
      expect(e.amount).toBe(stakes.get(who));
      expect(e.round).toBe(round.round);
    }
    for (const u of [zero, copyA, copyB]) expect((await getStake(u.publicClient, { staking: contracts.staking, jobId: job.id, account: addressOf(u) })).stake).toBe(0n);
    for (const u of [a, b]) expect((await getStake(u.publicClient, { staking: contracts.staking, jobId: job.id, account: addressOf(u) })).stake).toBe(stakes.get(u));

    // `dat round verify` compares the Slashed events with the stored list.
    await orch!.close();
    orch = undefined;
    const { roundVerify } = await import("../../src/cli/commands/round/verify.js");
    const verifier = await cli();
    await roundVerify(verifier.ctx, { job: String(job.id), round: String(round.round) });
    const verified = verifier.results()[0];
    expect(verified.chain.checks).toEqual(expect.arrayContaining([expect.objectContaining({ what: "slashes", ok: true })]));
    expect(verified.ok).toBe(true);
  }, 180_000);
});
