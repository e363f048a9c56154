/**
 * The Orchestrator contract, run against both implementations: embedded (in-process) and HTTP
 * (dat serve's fastify app on 127.0.0.1:0, undici client). Same calls, same answers, same errors.
 */
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmbeddedOrchestrator, type EmbeddedOrchestrator } from "../../src/orchestrator/embedded.js";
import { buildServer } from "../../src/server/app.js";
import { createHttpOrchestrator } from "../../src/orchestrator/http/client.js";
import { buildRegistration, buildSubmission } from "../../src/contributor/submission.js";
import { readModelBlob } from "../../src/orchestrator/modelBlob.js";
import { cidForBytes } from "../../src/store/cid.js";
import type { Orchestrator } from "../../src/orchestrator/types.js";
import { account, codeOf, constantDelta, jobInput, tempHome, tinyModel } from "./helpers.js";

interface Harness {
  orch: Orchestrator;
  stop(): Promise<void>;
}

const TOKEN = "operator-token-for-tests-0123456789";

async function embeddedHarness(): Promise<Harness> {
  const home = tempHome();
  const orch = await createEmbeddedOrchestrator({ home });
  return { orch, stop: async () => { await orch.close(); fs.rmSync(home, { recursive: true, force: true }); } };
}

async function httpHarness(): Promise<Harness> {
  const home = tempHome();
  const embedded: EmbeddedOrchestrator = await createEmbeddedOrchestrator({ home });
  const app = await buildServer({ orchestrator: embedded, operatorToken: TOKEN });
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  const orch = createHttpOrchestrator({ url, operatorToken: TOKEN, attempts: 1 });
  return {
    orch,
    stop: async () => {
      await orch.close();
      await app.close();
      await embedded.close();
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}

for (const [name, make] of [["embedded", embeddedHarness], ["http", httpHarness]] as const) {
  describe(`Orchestrator contract (${name})`, () => {
    let h: Harness;
    const alice = account();
    const bob = account();
    const carol = account();
    const mallory = account();

    beforeAll(async () => {
      h = await make();
    });
    afterAll(async () => {
      await h?.stop();
    });

    it("creates, lists and shows jobs; rejects malformed settings", async () => {
      const { bytes } = await tinyModel();
      const job = await h.orch.createJob(jobInput({ name: "t" }), bytes);
      expect(job.id).toBe(1);
      expect(job.modelCid).toBe(await cidForBytes(bytes));
      expect(job.hyper.epochs).toBe(1);
      expect((await h.orch.listJobs()).map((j) => j.id)).toEqual([1]);
      expect((await h.orch.getJob(1)).fingerprint).toBe(job.fingerprint);
      expect(await codeOf(h.orch.getJob(99))).toBe("JOB_NOT_FOUND");
      expect(await codeOf(h.orch.createJob({ ...jobInput(), rounds: -1 }, bytes))).toBe("MALFORMED_REQUEST");
      expect(await codeOf(h.orch.createJob(jobInput({ strategy: "nope" }), bytes))).toBe("STRATEGY_UNKNOWN");
      expect(await codeOf(h.orch.createJob(jobInput(), new Uint8Array([1, 2, 3])))).toBe("MODEL_BLOB_MALFORMED");
    });

    it("registers nodes from signed registrations only", async () => {
      for (const a of [alice, bob, carol]) await h.orch.registerNode(await buildRegistration(a, "cpu", { cpus: 2 }));
      expect((await h.orch.listNodes()).map((n) => n.address).sort()).toEqual([alice, bob, carol].map((a) => a.address.toLowerCase()).sort());
      const forged = { ...(await buildRegistration(mallory, "cpu", { cpus: 2 })), address: alice.address.toLowerCase() as `0x${string}` };
      expect(await codeOf(h.orch.registerNode(forged))).toMatch(/SIGNATURE|DENIED|SIGNER/);
      const tampered = { ...(await buildRegistration(mallory, "cpu", { cpus: 2 })), metadata: { cpus: 64 } };
      expect(await codeOf(h.orch.registerNode(tampered))).toBe("REGISTRATION_METADATA_MISMATCH");
      expect(await codeOf(h.orch.registerNode({ nonsense: true } as never))).toBe("MALFORMED_REQUEST");
    });

    it("opens one round at a time and serves its model", async () => {
      expect(await codeOf(h.orch.currentRound(1))).toBe("ROUND_NOT_OPEN");
      const round = await h.orch.openRound(1);
      expect(round).toMatchObject({ jobId: 1, round: 1, state: "collecting", encoding: "float32" });
      expect(round.publicKey).toMatch(/^0x[0-9a-f]{64}$/);
      expect(await codeOf(h.orch.openRound(1))).toBe("ROUND_ALREADY_OPEN");
      const current = await h.orch.currentRound(1);
      expect(current.publicKey).toBe(round.publicKey);
      const bytes = await h.orch.getModel(current.modelCid);
      expect(await cidForBytes(bytes)).toBe(current.modelCid);
      expect(await codeOf(h.orch.getModel("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"))).toBe("MODEL_NOT_FOUND");
      expect(await codeOf(h.orch.getModel("../etc/passwd"))).toMatch(/BAD_CID|ROUTE_NOT_FOUND/);
    });

    it("accepts valid submissions and rejects bad ones while the round goes on", async () => {
      const { view } = await tinyModel();
      const round = await h.orch.currentRound(1);
      const a = await buildSubmission({ account: alice, round, tensors: constantDelta(view, 0.1), sampleCount: 10 });
      const receipt = await h.orch.submit(a.submission, a.sealed);
      expect(receipt).toMatchObject({ jobId: 1, round: 1, accepted: 1, blobCid: a.submission.blobCid });

      // Second submission from the same address: rejected, not merged.
      const again = await buildSubmission({ account: alice, round, tensors: constantDelta(view, 5), sampleCount: 10 });
      expect(await codeOf(h.orch.submit(again.submission, again.sealed))).toBe("SUBMISSION_DUPLICATE");
      // Unregistered node.
      const m = await buildSubmission({ account: mallory, round, tensors: constantDelta(view, 0.1), sampleCount: 10 });
      expect(await codeOf(h.orch.submit(m.submission, m.sealed))).toBe("NODE_NOT_REGISTERED");
      // Bad signature: bob's submission signed by carol.
      const forged = await buildSubmission({ account: carol, round, tensors: constantDelta(view, 0.1), sampleCount: 10 });
      expect(await codeOf(h.orch.submit({ ...forged.submission, address: bob.address.toLowerCase() as `0x${string}` }, forged.sealed))).toMatch(/SIGNATURE|SIGNER|DENIED/);
      // A signed field altered after signing, a damaged signature, a malformed one.
      const signed = await buildSubmission({ account: bob, round, tensors: constantDelta(view, 0.1), sampleCount: 10 });
      const sig0 = signed.submission.signature;
      const damaged = `${sig0.slice(0, 20)}${sig0[20] === "0" ? "1" : "0"}${sig0.slice(21)}` as `0x${string}`;
      expect(await codeOf(h.orch.submit({ ...signed.submission, metricsHash: `0x${"00".repeat(32)}` }, signed.sealed))).toBe("SIGNATURE_MISMATCH");
      expect(await codeOf(h.orch.submit({ ...signed.submission, signature: damaged }, signed.sealed))).toMatch(/^SIGNATURE_(MISMATCH|INVALID)$/);
      expect(await codeOf(h.orch.submit({ ...signed.submission, signature: `0x${"00".repeat(65)}` }, signed.sealed))).toBe("SIGNATURE_INVALID");
      expect(await codeOf(h.orch.submit({ ...signed.submission, signature: sig0.slice(0, 130) as `0x${string}` }, signed.sealed))).toBe("SIGNATURE_INVALID");
      // Wrong round.
      const wrong = await buildSubmission({ account: bob, round: { ...round, round: 7 }, tensors: constantDelta(view, 0.1), sampleCount: 10 });
      expect(await codeOf(h.orch.submit(wrong.submission, wrong.sealed))).toBe("SUBMISSION_WRONG_ROUND");
      // Wrong fingerprint (a delta for another model).
      const { modelFingerprint } = await import("../../src/core/delta/index.js");
      const otherTensors = [{ name: "other/kernel", shape: [2], data: new Float32Array([1, 2]) }];
      const fp = await buildSubmission({
        account: bob, round: { ...round, fingerprint: modelFingerprint(otherTensors) }, tensors: otherTensors, sampleCount: 10,
      });
      expect(await codeOf(h.orch.submit(fp.submission, fp.sealed))).toBe("FINGERPRINT_MISMATCH");
      // Garbage blob under a valid signature.
      const garbage = new Uint8Array(256).map((_, i) => (i * 37) & 0xff);
      const g = await buildSubmission({ account: bob, round, tensors: constantDelta(view, 0.1), sampleCount: 10 });
      const { signSubmission } = await import("../../src/crypto/eip712.js");
      const garbageCid = await cidForBytes(garbage);
      const sig = await signSubmission(bob, {
        jobId: 1, round: 1, blobCid: garbageCid, sampleCount: 10, metricsHash: g.submission.metricsHash, modelFingerprint: round.fingerprint,
      });
      expect(await codeOf(h.orch.submit({ ...g.submission, blobCid: garbageCid, signature: sig }, garbage))).toBe("SUBMISSION_UNSEALABLE");
      // Blob swapped under a signed CID.
      expect(await codeOf(h.orch.submit(g.submission, a.sealed))).toMatch(/SUBMISSION_UNSEALABLE|BLOB_CID_MISMATCH/);
      // Malformed submission object.
      expect(await codeOf(h.orch.submit({ ...g.submission, sampleCount: -3 }, g.sealed))).toBe("MALFORMED_REQUEST");

      // The round goes on: bob and carol still get in.
      await h.orch.submit(g.submission, g.sealed);
      const c = await buildSubmission({ account: carol, round, tensors: constantDelta(view, 0.4), sampleCount: 30 });
      const last = await h.orch.submit(c.submission, c.sealed);
      expect(last.accepted).toBe(3);
      const status = await h.orch.roundStatus(1);
      expect(status).toMatchObject({ round: 1, state: "collecting", accepted: 3 });
    });

    it("closes with weighted FedAvg, scores each contribution, and never closes twice", async () => {
      const { view } = await tinyModel();
      const result = await h.orch.closeRound(1);
      expect(result.state).toBe("published");
      expect(result.scores).toHaveLength(3);
      // All three deltas are constant, so parallel (cosine 1): beyond public information they are
      // one contribution copied three times, and the copies share one score (scoreBeyondPublic);
      // carol's norm is 4× the median, so her part is ÷4.
      const byAddress = Object.fromEntries(result.scores.map((s) => [s.address, s.score]));
      expect(byAddress[alice.address.toLowerCase()]).toBeCloseTo(1 / 3, 5);
      expect(byAddress[carol.address.toLowerCase()]).toBeCloseTo(1 / 12, 5);
      const next = await readModelBlob(await h.orch.getModel(result.modelCid!));
      // One contribution copied three times goes into the aggregate once, as its member of least
      // norm (alice's or bob's 0.1; carol's 4× copy gains nothing): next = global + 0.1.
      expect(result.metrics?.aggregated).toBe(1);
      for (let i = 0; i < next.length; i += 97) expect(next.weights[i]).toBeCloseTo(view.weights[i] + 0.1, 5);
      expect(await codeOf(h.orch.closeRound(1))).toBe("ROUND_NOT_OPEN");
      const status = await h.orch.roundStatus(1, 1);
      expect(status.submissions.map((s) => s.status)).toEqual(["aggregated", "aggregated", "aggregated"]);
      const job = await h.orch.getJob(1);
      expect(job.modelCid).toBe(result.modelCid);
      expect(job.history).toMatchObject([{ round: 1, state: "published", accepted: 3 }]);
    });

    it("fails a round clearly when too few valid submissions arrived", async () => {
      const { view } = await tinyModel();
      const round = await h.orch.openRound(1);
      expect(round.round).toBe(2);
      expect(round.modelCid).toBe((await h.orch.getJob(1)).modelCid);
      const a = await buildSubmission({ account: alice, round, tensors: constantDelta(view, 0.1), sampleCount: 10 });
      await h.orch.submit(a.submission, a.sealed);
      const result = await h.orch.closeRound(1);
      expect(result.state).toBe("failed");
      expect(result.failureReason).toMatch(/1 valid submission\(s\), 2 required/);
      expect(await codeOf(h.orch.submit(a.submission, a.sealed))).toBe("SUBMISSION_WRONG_ROUND");
    });
  });
}

describe("HTTP server specifics", () => {
  it("guards operator routes with the token and rejects malformed bodies", async () => {
    const home = tempHome();
    const embedded = await createEmbeddedOrchestrator({ home });
    const app = await buildServer({ orchestrator: embedded, operatorToken: TOKEN, bodyLimit: 1024 * 1024 });
    try {
      const url = await app.listen({ host: "127.0.0.1", port: 0 });
      const noToken = createHttpOrchestrator({ url, attempts: 1 });
      const badToken = createHttpOrchestrator({ url, operatorToken: "x".repeat(TOKEN.length), attempts: 1 });
      const { bytes } = await tinyModel();
      expect(await codeOf(noToken.createJob(jobInput(), bytes))).toBe("OPERATOR_TOKEN_MISSING");
      expect(await codeOf(badToken.createJob(jobInput(), bytes))).toBe("OPERATOR_TOKEN_WRONG");
      expect(await codeOf(noToken.openRound(1))).toBe("OPERATOR_TOKEN_MISSING");
      const health = await fetch(`${url}/health`);
      expect(health.status).toBe(200);
      const bad = await fetch(`${url}/nodes`, { method: "POST", headers: { "content-type": "application/json" }, body: "{not json" });
      expect(bad.status).toBe(400);
      const noHeader = await fetch(`${url}/jobs/1/rounds/1/submissions`, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: new Uint8Array(10) });
      expect(noHeader.status).toBe(400);
      const huge = await fetch(`${url}/jobs/1/rounds/1/submissions`, { method: "POST", headers: { "content-type": "application/octet-stream", "x-dat-submission": "e30" }, body: new Uint8Array(2 * 1024 * 1024) });
      expect(huge.status).toBe(413);
      await noToken.close();
      await badToken.close();
      // Unreachable server: a typed network error after retries.
      const gone = createHttpOrchestrator({ url: "http://127.0.0.1:9", attempts: 2, backoffMs: 1 });
      expect(await codeOf(gone.listJobs())).toBe("ORCHESTRATOR_UNREACHABLE");
    } finally {
      await app.close();
      await embedded.close();
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
