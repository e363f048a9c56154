/**
 * Who counts as a contributor for a gated model download (issue 13, "the gated model never leaves
 * the gate"): in a job with a minimum stake, registration is free and proves nothing, so only a
 * registered node whose stake meets the minimum now; in a job without one (trusted groups, no
 * gate), any registered node. A gate without a minimum stake is refused at creation; a job stored
 * that way by an older version serves its model to gate holders and the operator only. The stake
 * reader and the token balances are doubles holding numbers in maps, as the chain would report them.
 */
import fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { createEmbeddedOrchestrator, type EmbeddedOrchestrator } from "../../src/orchestrator/embedded.js";
import { buildRegistration } from "../../src/contributor/submission.js";
import { openDatabase } from "../../src/db/index.js";
import { checkModelAccess, isContributor, MODEL_CHALLENGE_HEADER, type StakeReader } from "../../src/inference/modelAccess.js";
import { issueChallenge, signChallenge } from "../../src/inference/challenge.js";
import type { InferenceEngine } from "../../src/inference/engine.js";
import { checkGate, type BalanceReader } from "../../src/inference/gate.js";
import { account, jobInput, tempHome, tinyModel } from "../orchestrator/helpers.js";

const GATE_TOKEN = "0x00000000000000000000000000000000000000aa" as const;

/** An engine whose gate check is the real one over a balance table of GATE_TOKEN. */
function engineWithBalances(balances: Record<string, bigint>, gateMin: bigint): InferenceEngine {
  const reader: BalanceReader = {
    balanceOf: async (_token, holder) => balances[holder.toLowerCase()] ?? 0n,
    tokenInfo: async () => ({ symbol: "GATE", decimals: 18 }),
    clear: () => undefined,
  };
  return {
    job: async (id: string) => ({ id, gate: { token: GATE_TOKEN, min: gateMin } }),
    gateFor: (job: { id: string; gate: { token: `0x${string}`; min: bigint } }, address: `0x${string}`) => checkGate(reader, job.gate, address, job.id),
  } as unknown as InferenceEngine;
}

/** A request carrying `who`'s signed download challenge for `jobId`. */
async function signedRequest(db: ReturnType<typeof openDatabase>, jobId: number, who: ReturnType<typeof account>) {
  const typed = issueChallenge(db, { jobId: String(jobId), purpose: "infer", audience: "dat:local", chainId: 31337 });
  const proof = await signChallenge(who, typed as never);
  return { headers: { [MODEL_CHALLENGE_HEADER]: Buffer.from(JSON.stringify(proof)).toString("base64url") } };
}

function stakes(held: Record<string, bigint>, chainMin = 0n, fail = false): StakeReader {
  return {
    opening: async () => {
      if (fail) throw new Error("RPC unreachable");
      return { block: 42n, minStake: chainMin };
    },
    stakesAt: async (_job, addresses) => ({ stakes: new Map(addresses.map((a) => [a.toLowerCase(), held[a.toLowerCase()] ?? 0n])) }),
  };
}

describe("contributors of a gated job's model", () => {
  let home: string;
  let orch: EmbeddedOrchestrator | undefined;
  afterEach(async () => {
    await orch?.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it("are staked nodes when the job has a minimum stake, registered nodes otherwise", async () => {
    // Prepare: job 1 needs 10 base units of stake, job 2 none; two registered nodes, one staked.
    home = tempHome();
    orch = await createEmbeddedOrchestrator({ home });
    const { bytes } = await tinyModel();
    await orch.createJob(jobInput({ gateMin: "1", minStake: "10" }), bytes);
    await orch.createJob(jobInput(), bytes);
    const staked = account();
    const unstaked = account();
    const stranger = account();
    for (const who of [staked, unstaked]) await orch.registerNode(await buildRegistration(who, "cpu", { cpu: "test" }));
    const db = openDatabase(home);
    const reader = stakes({ [staked.address.toLowerCase()]: 10n, [stranger.address.toLowerCase()]: 50n });
    try {
      // Execute / Assert
      expect(await isContributor(db, 1, staked.address, reader)).toBe(true);
      expect(await isContributor(db, 1, unstaked.address, reader)).toBe(false);
      // Stake without registration is no contributor either.
      expect(await isContributor(db, 1, stranger.address, reader)).toBe(false);
      // The chain's own minimum counts when it is the stricter one.
      expect(await isContributor(db, 1, staked.address, stakes({ [staked.address.toLowerCase()]: 10n }, 11n))).toBe(false);
      // No chain to read, or an unreachable one: no contributor of a staked job passes.
      expect(await isContributor(db, 1, staked.address, undefined)).toBe(false);
      expect(await isContributor(db, 1, staked.address, stakes({}, 0n, true))).toBe(false);
      // A job without a minimum: every registered node, and no one else.
      expect(await isContributor(db, 2, unstaked.address, undefined)).toBe(true);
      expect(await isContributor(db, 2, stranger.address, undefined)).toBe(false);
    } finally {
      db.close();
    }
  });

  it("serves an ungated --encrypt-model job's plaintext to its contributors only (consumers get the encrypted copy)", async () => {
    // Prepare: an --encrypt-model job without a gate; one registered contributor, one stranger.
    home = tempHome();
    orch = await createEmbeddedOrchestrator({ home });
    const { bytes } = await tinyModel();
    const job = await orch.createJob(jobInput({ encryptModel: true }), bytes);
    const contributor = account();
    const stranger = account();
    await orch.registerNode(await buildRegistration(contributor, "cpu", { cpu: "test" }));
    const db = openDatabase(home);
    // The challenge path never touches the inference engine for an ungated job.
    const engine = {} as InferenceEngine;
    const signed = (who: ReturnType<typeof account>) => signedRequest(db, job.id, who);
    const notOperator = async () => false;
    try {
      // Execute / Assert
      await expect(checkModelAccess(db, engine, { headers: {} }, job.initialModelCid, notOperator)).rejects.toMatchObject({ code: "MODEL_AUTH_REQUIRED" });
      await expect(checkModelAccess(db, engine, await signed(stranger), job.initialModelCid, notOperator)).rejects.toMatchObject({ code: "MODEL_ACCESS_DENIED" });
      await expect(checkModelAccess(db, engine, await signed(contributor), job.initialModelCid, notOperator)).resolves.toBeUndefined();
      await expect(checkModelAccess(db, engine, { headers: {} }, job.initialModelCid, async () => true)).resolves.toBeUndefined();
    } finally {
      db.close();
    }
  });

  it("refuses a gate without a positive minimum stake, naming the field", async () => {
    home = tempHome();
    orch = await createEmbeddedOrchestrator({ home });
    const { bytes } = await tinyModel();
    for (const minStake of [undefined, "0"]) {
      await expect(orch.createJob(jobInput({ gateMin: "1", minStake }), bytes)).rejects.toMatchObject({
        code: "JOB_GATE_WITHOUT_STAKE", exitCode: 3, data: { field: "minStake" }, hint: expect.stringContaining("--min-stake"),
      });
    }
    // No gate, or a public one (gateMin 0): no stake needed (trusted groups).
    await expect(orch.createJob(jobInput(), bytes)).resolves.toMatchObject({ id: 1 });
    await expect(orch.createJob(jobInput({ gateMin: "0" }), bytes)).resolves.toMatchObject({ id: 2 });
    expect((await orch.listJobs()).length).toBe(2);
  });

  it("serves a staked gated job's model to staked contributors and holders; an older unstaked one to holders only", async () => {
    // Prepare: job 1 gated (gate minimum 5) with a minimum stake of 10; job 2 the same but its
    // minimum removed from the row, as an older database holds it. Each has its own model.
    home = tempHome();
    orch = await createEmbeddedOrchestrator({ home });
    const { bytes } = await tinyModel();
    const staked = await orch.createJob(jobInput({ gateMin: "5", minStake: "10" }), bytes);
    const other = Uint8Array.from(bytes);
    other[other.length - 1] ^= 1; // one weight's last byte: same shape, another CID
    const old = await orch.createJob(jobInput({ gateMin: "5", minStake: "10" }), other);
    expect(old.initialModelCid).not.toBe(staked.initialModelCid);
    const stakedNode = account();
    const registered = account();
    const holder = account();
    for (const who of [stakedNode, registered]) await orch.registerNode(await buildRegistration(who, "cpu", { cpu: "test" }));
    const db = openDatabase(home);
    db.prepare("UPDATE job_econ SET min_stake = NULL WHERE job_id = ?").run(old.id);
    const engine = engineWithBalances({ [holder.address.toLowerCase()]: 5n, [registered.address.toLowerCase()]: 4n }, 5n);
    const reader = stakes({ [stakedNode.address.toLowerCase()]: 10n });
    const notOperator = async () => false;
    const access = async (jobId: number, cid: string, who: ReturnType<typeof account>) =>
      checkModelAccess(db, engine, await signedRequest(db, jobId, who), cid, notOperator, reader);
    try {
      // Execute / Assert: the staked job.
      await expect(access(staked.id, staked.initialModelCid, stakedNode)).resolves.toBeUndefined();
      await expect(access(staked.id, staked.initialModelCid, holder)).resolves.toBeUndefined();
      await expect(access(staked.id, staked.initialModelCid, registered)).rejects.toMatchObject({ code: "MODEL_ACCESS_DENIED", exitCode: 5 });
      // The older job: registration (and a stake in another job) admits no one; holders and the operator pass.
      for (const who of [registered, stakedNode]) {
        await expect(access(old.id, old.initialModelCid, who)).rejects.toMatchObject({
          code: "MODEL_GATE_UNSTAKED", exitCode: 5, hint: expect.stringContaining("gate token"), data: { jobId: old.id },
        });
      }
      await expect(access(old.id, old.initialModelCid, account())).rejects.toMatchObject({ code: "MODEL_ACCESS_DENIED" });
      await expect(access(old.id, old.initialModelCid, holder)).resolves.toBeUndefined();
      await expect(checkModelAccess(db, engine, { headers: {} }, old.initialModelCid, async () => true, reader)).resolves.toBeUndefined();
      await expect(checkModelAccess(db, engine, { headers: {} }, old.initialModelCid, notOperator, reader)).rejects.toMatchObject({ code: "MODEL_AUTH_REQUIRED" });
    } finally {
      db.close();
    }
  });
});
