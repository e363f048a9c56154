/**
 * Closing a round whose aggregation fails on its inputs: the round fails with the reason, once,
 * instead of staying "aggregating" and failing again on every resume.
 */
import fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { createEmbeddedOrchestrator, type EmbeddedOrchestrator } from "../../src/orchestrator/embedded.js";
import { isRetryable } from "../../src/core/errors.js";
import { buildRegistration, buildSubmission } from "../../src/contributor/submission.js";
import { account, constantDelta, jobInput, tempHome, tinyModel } from "./helpers.js";
import { readModelBlob } from "../../src/orchestrator/modelBlob.js";
import { seededRandom } from "../../src/core/privacy/noise.js";

describe("close with an aggregation error", () => {
  let home: string;
  let orch: EmbeddedOrchestrator | undefined;
  afterEach(async () => {
    await orch?.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it("fails the round with the strategy's reason (AGGREGATE_OVERFLOW) and does not retry it", async () => {
    // Prepare: two finite deltas whose float32 sum overflows.
    home = tempHome();
    orch = await createEmbeddedOrchestrator({ home });
    const { bytes, view } = await tinyModel();
    await orch.createJob(jobInput({ minContributors: 2 }), bytes);
    const round = await orch.openRound(1);
    // Not parallel (cosine ≈ 0.7), or they would be one duplicate group aggregated once.
    const halfHuge = constantDelta(view, 3e38).map((t) => ({ ...t, data: t.data.map((v, i) => (i % 2 === 0 ? v : 1)) }));
    for (const [k, who] of [account(), account()].entries()) {
      await orch.registerNode(await buildRegistration(who, "cpu", { cpu: "test" }));
      const built = await buildSubmission({ account: who, round, tensors: k === 0 ? constantDelta(view, 3e38) : halfHuge, sampleCount: 1 });
      await orch.submit(built.submission, built.sealed);
    }

    // Execute
    const result = await orch.closeRound(1);

    // Assert
    expect(result.state).toBe("failed");
    expect(result.failureReason).toMatch(/aggregation failed: .*overflow.*\(AGGREGATE_OVERFLOW\)/i);
    const status = await orch.roundStatus(1, 1);
    expect(status.state).toBe("failed");
    await expect(orch.closeRound(1)).rejects.toMatchObject({ code: "ROUND_NOT_OPEN" });
    // The job can go on with a fresh round.
    expect((await orch.openRound(1)).round).toBe(2);
  });

  it("tells transient faults from decided failures", () => {
    expect(isRetryable(Object.assign(new Error("gone"), { code: "ENOENT" }))).toBe(true);
    expect(isRetryable(Object.assign(new Error("busy"), { code: "SQLITE_BUSY" }))).toBe(true);
    expect(isRetryable(Object.assign(new Error("x"), { code: "STORE_UNREACHABLE" }))).toBe(true);
    expect(isRetryable(Object.assign(new Error("x"), { code: "AGGREGATE_OVERFLOW" }))).toBe(false);
    expect(isRetryable(new Error("plain"))).toBe(false);
    expect(isRetryable(undefined)).toBe(false);
  });
});

describe("encrypted models (job --encrypt-model)", () => {
  let home: string;
  let orch: EmbeddedOrchestrator | undefined;
  afterEach(async () => {
    await orch?.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it("publishes an encrypted copy of each global model for consumers; contributors keep the plain one", async () => {
    // Prepare
    home = tempHome();
    orch = await createEmbeddedOrchestrator({ home });
    const { bytes, view } = await tinyModel();
    const { getEncryptedCopy } = await import("../../src/db/challenges.js");
    const { decryptModelBlob, lookupModelKey, isEncryptedModelBlob } = await import("../../src/inference/modelKeys.js");
    const { resolveInferenceJob } = await import("../../src/inference/jobs.js");
    const job = await orch.createJob(jobInput({ minContributors: 1, encryptModel: true, gateMin: "0" }), bytes);
    const initialCopy = getEncryptedCopy(orch.db, "1", job.initialModelCid)!;
    expect(initialCopy).toBeDefined();
    const round = await orch.openRound(1);
    const who = account();
    await orch.registerNode(await buildRegistration(who, "cpu", { cpu: "test" }));
    const built = await buildSubmission({ account: who, round, tensors: constantDelta(view, 0.1), sampleCount: 3 });
    await orch.submit(built.submission, built.sealed);

    // Execute
    const result = await orch.closeRound(1);

    // Assert
    expect(result.state).toBe("published");
    const encrypted = result.metrics!.encryptedModelCid as string;
    expect(encrypted).toBe(getEncryptedCopy(orch.db, "1", result.modelCid!));
    const blob = await orch.store.get(encrypted);
    expect(isEncryptedModelBlob(blob)).toBe(true);
    const plain = await orch.getModel(result.modelCid!);
    expect(Buffer.from(decryptModelBlob(blob, lookupModelKey(orch.db, "1", encrypted)!)).equals(Buffer.from(plain))).toBe(true);
    expect(isEncryptedModelBlob(plain)).toBe(false);
    expect((await orch.openRound(1)).modelCid).toBe(result.modelCid);
    // A public (gate "0") job needs no chain config to resolve.
    expect(resolveInferenceJob(orch.db, "1", {} as never, undefined).modelCid).toBe(encrypted);
  });
});

describe("contribution scores with a validation set", () => {
  let home: string;
  let orch: EmbeddedOrchestrator | undefined;
  afterEach(async () => {
    await orch?.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it("adds each delta's validation-loss effect (global + Δᵢ alone) to its score", async () => {
    // Prepare: two small deltas and one that wrecks the model when applied alone.
    home = tempHome();
    const { writeTabularCsv } = await import("./cli.js");
    const valCsv = `${home}/val.csv`;
    await writeTabularCsv(valCsv, 120, 5);
    orch = await createEmbeddedOrchestrator({ home });
    const { bytes, view } = await tinyModel();
    await orch.createJob(jobInput({ minContributors: 4, strategy: "median", validationPath: valCsv, labelColumn: "label" }), bytes);
    const round = await orch.openRound(1);
    const people = [account(), account(), account(), account()];
    // Three small deltas that agree without being copies (copies would share one vote), one wrecker.
    const pattern: Record<string, (v: number, i: number) => number> = {
      a: (v) => v, b: (v, i) => (i % 2 ? v / 4 : v), c: (v, i) => (i % 3 ? v : v / 3), w: (v) => v,
    };
    for (const [who, value, kind] of [[people[0], 0.001, "a"], [people[1], 0.002, "b"], [people[2], -40, "w"], [people[3], 0.0015, "c"]] as const) {
      await orch.registerNode(await buildRegistration(who, "cpu", { cpu: "test" }));
      const tensors = constantDelta(view, value).map((t) => ({ ...t, data: t.data.map((v, i) => pattern[kind](v, i)) }));
      const built = await buildSubmission({ account: who, round, tensors, sampleCount: 10 });
      await orch.submit(built.submission, built.sealed);
    }

    // Execute
    const result = await orch.closeRound(1);

    // Assert
    expect(result.state).toBe("published");
    expect(result.metrics).toMatchObject({ scoring: "beyond-public+relevance+validation(alone)" });
    expect(Number.isFinite(result.metrics!.loss)).toBe(true);
    const score = Object.fromEntries(result.scores.map((s) => [s.address, s.score]));
    for (const s of result.scores) expect(s.score).toBeGreaterThanOrEqual(0);
    // The wrecking delta raises the loss (no validation value) and is ~27,000× the median norm: its
    // magnitude factor leaves it at most a millionth of the round (the per-class validation
    // gradient may find a class its residual descends, so not always exactly 0).
    const total = result.scores.reduce((sum, s) => sum + s.score, 0);
    expect(score[people[2].address.toLowerCase()]).toBeLessThan(1e-6 * total);
    expect(score[people[0].address.toLowerCase()]).toBeGreaterThan(0);
  });
});

describe("opened-delta cache between submit and close", () => {
  const homes: string[] = [];
  afterEach(() => {
    for (const h of homes.splice(0)) fs.rmSync(h, { recursive: true, force: true });
  });

  it("publishes the same model with the cache, with a tiny one (eviction) and without", async () => {
    const { bytes, view } = await tinyModel();
    const people = [account(), account(), account()];
    const cids: string[] = [];
    for (const openedCacheBytes of [undefined, 5000, 0]) {
      const home = tempHome();
      homes.push(home);
      const orch = await createEmbeddedOrchestrator({ home, openedCacheBytes });
      try {
        await orch.createJob(jobInput({ minContributors: 3 }), bytes);
        const round = await orch.openRound(1);
        for (const [i, who] of people.entries()) {
          await orch.registerNode(await buildRegistration(who, "cpu", { cpu: "test" }));
          const built = await buildSubmission({ account: who, round, tensors: constantDelta(view, 0.01 * (i + 1)), sampleCount: 4 + i });
          await orch.submit(built.submission, built.sealed);
        }
        const result = await orch.closeRound(1);
        expect(result.state).toBe("published");
        cids.push(result.modelCid!);
      } finally {
        await orch.close();
      }
    }
    expect(new Set(cids).size).toBe(1);
  });
});

describe("what goes into the aggregate", () => {
  let home: string;
  let orch: EmbeddedOrchestrator | undefined;
  afterEach(async () => {
    await orch?.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it("leaves zero deltas out and counts a scaled Sybil copy once, at the honest norm (FedAvg)", async () => {
    // Prepare: two honest deltas that agree (a shared 0.1 plus their own noise) but are no copies,
    // a zero delta, and the first honest delta scaled 10× from another wallet.
    home = tempHome();
    orch = await createEmbeddedOrchestrator({ home });
    const { bytes, view } = await tinyModel();
    await orch.createJob(jobInput({ minContributors: 2, strategy: "fedavg" }), bytes);
    const round = await orch.openRound(1);
    const random = seededRandom(7);
    const honestDelta = () => constantDelta(view, 0.1).map((t) => ({ ...t, data: t.data.map((v) => v + 0.1 * (random() - 0.5)) }));
    const a = honestDelta();
    const b = honestDelta();
    const zero = constantDelta(view, 0);
    const copy = a.map((t) => ({ ...t, data: t.data.map((v) => 10 * v) }));
    const sent: [ReturnType<typeof account>, ReturnType<typeof constantDelta>][] = [[account(), copy], [account(), a], [account(), b], [account(), zero]];
    for (const [who, tensors] of sent) {
      await orch.registerNode(await buildRegistration(who, "cpu", { cpu: "test" }));
      const built = await buildSubmission({ account: who, round, tensors, sampleCount: 10 });
      await orch.submit(built.submission, built.sealed);
    }

    // Execute
    const result = await orch.closeRound(1);

    // Assert: next = global + (a + b) / 2, exactly what the two honest deltas alone give.
    expect(result.state).toBe("published");
    expect(result.metrics).toMatchObject({ accepted: 4, aggregated: 2 });
    const next = await readModelBlob(await orch.getModel(result.modelCid!));
    const flatA = a.flatMap((t) => [...t.data]);
    const flatB = b.flatMap((t) => [...t.data]);
    for (let i = 0; i < next.length; i += 31) expect(next.weights[i]).toBeCloseTo(view.weights[i] + (flatA[i] + flatB[i]) / 2, 5);
  });
});
