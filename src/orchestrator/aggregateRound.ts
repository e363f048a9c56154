/**
 * Closing a round: fetch, open and decode each accepted sealed delta, score every contribution
 * (what it adds beyond public information), aggregate with the job's strategy the deltas that carry
 * signal (flagged ones left out, copies once), apply the aggregate to the base model, store the new
 * global model, evaluate it on the job's validation set, and commit all of it in one SQLite
 * transaction.
 */
import type { PreprocessSpec } from "../core/preprocess.js";
import type Database from "better-sqlite3";
import { OperationFailedError, isRetryable } from "../core/errors.js";
import type { ValidationEffect } from "../core/scores.js";
import { scoreBeyondPublic } from "../core/scoreBeyondPublic.js";
import { getJobEcon, saveRoundEvidence, saveSubmissionFlag, type EvidenceRecord } from "../db/econ.js";
import type { JobRow } from "../db/jobs.js";
import * as roundsDb from "../db/rounds.js";
import * as subsDb from "../db/submissions.js";
import { getServerState, saveServerState } from "../db/serverState.js";
import type { OrchestratorDeps, RoundRecipientKey } from "./deps.js";
import { readModelBlob, repackModelBlob, tensorOffsets, type ModelBlobView } from "./modelBlob.js";
import type { BlobStore } from "../store/index.js";
import type { ContributionScore, Hex } from "./types.js";
import { strategyParamStrings } from "./jobs.js";

export interface AggregateRoundOptions {
  db: Database.Database;
  store: BlobStore;
  deps: OrchestratorDeps;
  job: JobRow;
  /** The round, in state "aggregating". */
  round: roundsDb.RoundRow;
  /**
   * The opened (decrypted) bytes of a submission's sealed blob when the submit path kept them: the
   * same bytes the store holds under that CID, opened with this round's key, so reading and opening
   * the blob again is skipped. Undefined: read the store (after a restart, or once evicted).
   */
  opened?: (blobCid: string) => Uint8Array | undefined;
  /** Keep decoded deltas for scoring when they fit in this many bytes (else decode twice). */
  keepBytes?: number;
}

export interface AggregateRoundOutcome {
  scores: ContributionScore[];
  rejected: { address: Hex; reason: string }[];
}

/**
 * Aggregates an "aggregating" round and publishes it, or fails it when too few deltas are valid.
 * Throws (leaving the round aggregating, to be resumed) only on faults such as an unreadable store.
 */
export async function aggregateRound(options: AggregateRoundOptions): Promise<AggregateRoundOutcome> {
  const { db, store, deps, job, round } = options;
  const { createStrategy } = await import("../core/aggregate/index.js");
  const baseBytes = await store.get(round.baseModelCid);
  const base = await readModelBlob(baseBytes);
  const strategy = createStrategy(job.strategy, strategyParamStrings(job.strategyParams));
  const saved = getServerState(db, job.id);
  const state = saved && saved.strategy === job.strategy && (!saved.m || saved.m.length === base.length)
    ? { strategy: strategy.name, step: saved.step, m: saved.m ?? undefined, v: saved.v ?? undefined }
    : undefined;
  const submissions = subsDb.listSubmissions(db, job.id, round.round).filter((s) => s.status !== "rejected");
  // Claimed counts are self-reported: FedAvg-family weights are min(claim, min(maxSamples, 2 × median
  // of the round's claims)) (core/aggregate/boundedWeights.ts), so one inflated claim weighs at most
  // twice a typical honest one. The claims are known before decoding: they are in the signed rows.
  const econ = getJobEcon(db, job.id);
  const weightOptions = { claims: submissions.map((s) => s.sampleCount), ...(econ.maxSamples !== null ? { maxSamples: econ.maxSamples } : {}) };
  const keepBytes = options.keepBytes ?? 256 * 1024 * 1024;
  const keep = !strategy.streaming || submissions.length * base.length * 4 <= keepBytes;
  const kept = new Map<number, Float32Array>();
  const rejected = new Map<number, string>();
  const offsets = tensorOffsets(base.specs);
  let scratch: Float32Array | undefined;
  let samples = 0;

  let roundKey: RoundRecipientKey | undefined;
  const decodeFlat = async (s: subsDb.SubmissionRow, into?: Float32Array): Promise<Float32Array> => {
    const plain = options.opened?.(s.blobCid)
      ?? (await deps.openDelta(
        (roundKey ??= deps.importRoundKey(round.privateKey as Hex)), await store.get(s.blobCid),
        { jobId: job.id, round: round.round, address: s.address as Hex },
      ));
    const delta = deps.decodeDelta(plain, { fingerprint: job.fingerprint, maxNorm: normBound(job.dpClip, job.dpNoise), maxElements: base.length });
    if (delta.sampleCount !== s.sampleCount) throw new Error(`sample count ${delta.sampleCount} ≠ signed ${s.sampleCount}`);
    return flatten(delta.tensors, base, offsets, into);
  };

  for (const s of submissions) {
    try {
      const target = keep ? undefined : (scratch ??= new Float32Array(base.length));
      const flat = await decodeFlat(s, target);
      if (keep) kept.set(s.id, flat);
      samples += s.sampleCount;
    } catch (error) {
      // A missing or unreadable blob of an acknowledged submission is a fault to retry, not a bad delta.
      if (isRetryable(error)) throw error;
      rejected.set(s.id, (error as Error).message);
    }
  }

  const valid = submissions.filter((s) => !rejected.has(s.id));
  const needed = Math.max(job.minContributors, strategy.minUpdates());
  const rejectedList = submissions.filter((s) => rejected.has(s.id)).map((s) => ({ address: s.address as Hex, reason: rejected.get(s.id)! }));
  if (valid.length < needed) {
    const reason = `${valid.length} valid submission(s), ${needed} required` + (rejected.size ? ` (${rejected.size} rejected at close)` : "");
    db.transaction(() => {
      for (const s of submissions) if (rejected.has(s.id)) subsDb.markRejected(db, s.id, rejected.get(s.id)!);
      roundsDb.transitionRound(db, job.id, round.round, {
        to: "failed", failureReason: reason, metrics: { accepted: valid.length, rejected: rejected.size, samples },
      });
    }).immediate();
    return { scores: [], rejected: rejectedList };
  }

  const metrics: roundsDb.RoundMetrics = { accepted: valid.length, rejected: rejected.size, samples, strategy: job.strategy };

  // Scores: what each delta adds beyond public information (core/scoreBeyondPublic.ts): the public
  // previous global update, zero and noise earn nothing, copies share one vote; with a validation
  // set, each delta's effect on the validation loss ("alone": global + Δᵢ against the global) is
  // blended in.
  const { boundedWeights } = await import("../core/aggregate/boundedWeights.js");
  if (submissions.length > 0 && strategy.name.startsWith("fed")) {
    const bounded = boundedWeights(weightOptions.claims, weightOptions);
    metrics.weightCap = bounded.cap;
    metrics.weightCapped = bounded.capped.length;
  }
  const evaluator = job.validationPath && job.labelColumn ? await openEvaluator(job.validationPath, job.labelColumn, baseBytes, job.preprocess as PreprocessSpec | null) : undefined;
  const losses: Record<string, number> = {};
  let validationError: string | undefined;
  let scored: ReturnType<typeof scoreBeyondPublic>;
  let result: import("../core/aggregate/types.js").AggregateResult;
  let next: Float32Array;
  try {
    const scoreByLoss = evaluator !== undefined && valid.length <= MAX_VALIDATION_SCORED;
    const candidate = scoreByLoss ? new Float32Array(base.length) : undefined;
    // Scoring needs every delta at once (one Gram matrix): O(contributors × model) memory.
    const deltas: { id: string; delta: Float32Array }[] = [];
    for (const s of valid) {
      const flat = kept.get(s.id) ?? (await decodeFlat(s));
      deltas.push({ id: s.address, delta: flat });
      if (candidate && validationError === undefined) {
        for (let i = 0; i < candidate.length; i++) candidate[i] = base.weights[i] + flat[i];
        try {
          losses[s.address] = (await evaluator!.evaluate(candidate)).loss;
        } catch (error) {
          validationError = (error as Error).message;
        }
      }
    }
    let validation: ValidationEffect | undefined;
    if (scoreByLoss && validationError === undefined) {
      // The base model's loss is the previous round's recorded one when there is one: no extra pass.
      const previous = roundsDb.latestPublishedRound(db, job.id);
      const referenceLoss = previous?.modelCid === round.baseModelCid && typeof previous.metrics?.loss === "number"
        ? previous.metrics.loss
        : (await evaluator!.evaluate(base.weights)).loss;
      if (Number.isFinite(referenceLoss)) validation = { kind: "alone", referenceLoss, losses };
      else validationError = "the base model's validation loss is not finite";
    }
    const previousUpdate = await publicPreviousUpdate(db, store, job.id, round, base);
    // The held-out evidence that a residual carries signal (core/scoreBeyondPublic.ts "relevance"):
    // one pass over the validation set at the base model, whatever the number of contributors.
    let validationGradients: Float32Array[] | undefined;
    if (evaluator) {
      try {
        const grads = await evaluator.gradients(base.weights);
        if (grads.length > 0 && grads.every((x) => x.every(Number.isFinite))) validationGradients = grads;
      } catch (error) {
        validationError ??= (error as Error).message;
      }
    }
    metrics.scoring = "beyond-public" + (previousUpdate ? "(previous update)" : "") + (validationGradients ? "+relevance" : "") + (validation
      ? "+validation(alone)"
      : evaluator ? ` (validation effect skipped: ${validationError ?? `more than ${MAX_VALIDATION_SCORED} contributors`})` : "");
    scored = scoreBeyondPublic(deltas, {
      ...(previousUpdate ? { previousUpdate } : {}),
      ...(validation ? { validation } : {}),
      ...(validationGradients ? { validationGradients } : {}),
      // Under local DP noise every honest residual is mostly noise: the noise test would flag them all.
      ...((job.dpNoise ?? 0) > 0 ? { noiseAgreement: 0 } : {}),
    });

    // Aggregate only what carries signal: a delta flagged zero, free-ride or noise is paid nothing
    // and must not dilute the honest ones either, and a group of copies counts once (its
    // member of least norm), not once per Sybil wallet. Fewer left than the strategy needs: all.
    const byId = new Map(deltas.map((d) => [d.id, d.delta]));
    const norm = (v: Float32Array): number => Math.sqrt(v.reduce((a, x) => a + x * x, 0));
    const aggregated = signalCarrying(valid.map((s) => s.address), scored, (id) => norm(byId.get(id)!));
    const included = aggregated.length >= strategy.minUpdates() ? aggregated : valid.map((s) => s.address);
    const sampleCountOf = new Map(valid.map((s) => [s.address, s.sampleCount]));
    const accumulator = strategy.createAccumulator(base.length, state, weightOptions);
    for (const id of included) accumulator.add({ id, weight: sampleCountOf.get(id)!, delta: byId.get(id)! });
    result = accumulator.finish();
    metrics.aggregated = included.length;
    next = new Float32Array(base.length);
    for (let i = 0; i < next.length; i++) next[i] = base.weights[i] + result.delta[i];
    if (!next.every(Number.isFinite)) {
      throw new OperationFailedError("The aggregate made the model's weights non-finite.", { code: "AGGREGATE_NOT_FINITE" });
    }
    if (evaluator) {
      const evaluation = await evaluator.evaluate(next);
      metrics.loss = evaluation.loss;
      if (evaluation.accuracy !== undefined) metrics.accuracy = evaluation.accuracy;
      metrics.validationCount = evaluation.count;
    }
  } finally {
    evaluator?.dispose();
  }
  const modelBytes = repackModelBlob(base, next);
  // A gated or --encrypt-model job's model is stored only encrypted; rounds name its plaintext CID,
  // which the orchestrator's store (privateModelStore) reads back through the key.
  const { putJobModel } = await import("../inference/modelKeys.js");
  const { modelCid, encryptedModelCid } = await putJobModel(db, store, job, modelBytes);

  if (result.selected) metrics.selected = result.selected.length;
  if (encryptedModelCid) metrics.encryptedModelCid = encryptedModelCid;

  const scoreOf = new Map(scored.scores.map((x) => [x.id, x]));
  const evidence: EvidenceRecord[] = scored.evidence.map((e) => ({ ...e, ids: e.ids.map((id) => id.toLowerCase()) }));
  // A delta rejected at close passed intake's checks once and is signed: the rejection is evidence.
  for (const r of rejectedList) evidence.push({ kind: "rejected", ids: [r.address.toLowerCase()], slashable: true, measure: 0 });
  // Slash only on exact evidence anyone holding the deltas can recheck (zero, exact copy of the
  // public update, copies); statistical flags (noise, near free-ride) only cost the reward.
  const slashes = [...new Set(evidence.filter((e) => e.slashable).flatMap((e) => e.ids))].sort();
  const flagged = scored.scores.filter((x) => x.flag !== null);
  if (flagged.length > 0) metrics.flagged = Object.fromEntries(["free-ride", "zero", "noise", "duplicate"].map((f) => [f, flagged.filter((x) => x.flag === f).length]));
  if (slashes.length > 0) metrics.slashes = slashes.length;

  db.transaction(() => {
    for (const s of submissions) {
      if (rejected.has(s.id)) subsDb.markRejected(db, s.id, rejected.get(s.id)!);
      else {
        const x = scoreOf.get(s.address);
        subsDb.markAggregated(db, s.id, x?.score ?? 0);
        if (x) saveSubmissionFlag(db, s.id, { flag: x.flag, agreement: x.agreement, residualRatio: x.residualRatio });
      }
    }
    saveRoundEvidence(db, job.id, round.round, evidence, slashes);
    if (result.state) {
      saveServerState(db, {
        jobId: job.id, round: round.round, strategy: result.state.strategy, step: result.state.step,
        m: result.state.m ?? null, v: result.state.v ?? null,
      });
    }
    roundsDb.transitionRound(db, job.id, round.round, { to: "published", modelCid, metrics });
  }).immediate();

  return {
    scores: valid.map((s) => ({ address: s.address as Hex, sampleCount: s.sampleCount, score: scoreOf.get(s.address)?.score ?? 0 })),
    rejected: rejectedList,
  };
}

/**
 * The contributors whose deltas go into the aggregate, in submission order: none flagged zero,
 * free-ride or noise, and of each duplicate group one member only, the one with the smallest norm
 * (the members point the same way, so a Sybil that scales its copy up gains no weight by it).
 */
export function signalCarrying(ids: string[], scored: ReturnType<typeof scoreBeyondPublic>, normOf: (id: string) => number): string[] {
  const flagOf = new Map(scored.scores.map((x) => [x.id, x.flag]));
  const representative = new Map<string, string>();
  for (const e of scored.evidence) {
    if (e.kind !== "duplicate") continue;
    const smallest = e.ids.reduce((best, id) => (normOf(id) < normOf(best) ? id : best));
    for (const id of e.ids) representative.set(id, smallest);
  }
  return ids.filter((id) => {
    const flag = flagOf.get(id) ?? null;
    if (flag === "zero" || flag === "free-ride" || flag === "noise") return false;
    const chosen = representative.get(id);
    return chosen === undefined || chosen === id;
  });
}

/**
 * The public previous global update: this round's base model minus the previous round's base model
 * (both public CIDs), or undefined in a job's first round (or when the models differ in size).
 */
async function publicPreviousUpdate(
  db: Database.Database, store: BlobStore, jobId: number, round: roundsDb.RoundRow, base: ModelBlobView,
): Promise<Float32Array | undefined> {
  const previous = roundsDb.listRounds(db, jobId)
    .filter((r) => r.round < round.round && r.state === "published" && r.modelCid === round.baseModelCid)
    .at(-1);
  if (!previous || previous.baseModelCid === round.baseModelCid) return undefined;
  const before = await readModelBlob(await store.get(previous.baseModelCid));
  if (before.length !== base.length) return undefined;
  const u = new Float32Array(base.length);
  for (let i = 0; i < u.length; i++) u[i] = base.weights[i] - before.weights[i];
  return u.some((x) => x !== 0) ? u : undefined;
}

/** Copies decoded tensors (checked against the model's specs) into one flat vector. */
function flatten(
  tensors: readonly { name: string; shape: number[]; data: Float32Array }[],
  base: ModelBlobView,
  offsets: number[],
  into?: Float32Array,
): Float32Array {
  if (tensors.length !== base.specs.length) throw new Error(`delta has ${tensors.length} tensors, the model ${base.specs.length}`);
  const out = into ?? new Float32Array(base.length);
  tensors.forEach((t, i) => {
    const spec = base.specs[i];
    if (t.name !== spec.name || t.shape.join(",") !== spec.shape.join(",")) {
      throw new Error(`tensor ${i} is ${t.name} [${t.shape}], the model has ${spec.name} [${spec.shape}]`);
    }
    out.set(t.data, offsets[i]);
  });
  return out;
}

/** Clipped deltas may exceed the bound by float rounding and by the added noise; allow for it. */
export function normBound(dpClip: number | null, dpNoise: number | null): number | undefined {
  // With noise the norm is dominated by it (≈ σ·C·√d), so only a noise-free job gets a hard bound
  // (decodeDelta allows for the rounding of quantized encodings itself).
  if (dpClip === null || (dpNoise ?? 0) > 0) return undefined;
  return dpClip;
}

/**
 * At most this many contributors get the validation-loss part of their score: it costs one pass
 * over the (small) validation set each, on top of the one for the new global model.
 */
export const MAX_VALIDATION_SCORED = 64;

interface Evaluator {
  /** Loss and accuracy of the model with these flat weights. */
  evaluate(weights: Float32Array): Promise<{ loss: number; accuracy?: number; count: number }>;
  /**
   * Gradients of the mean validation loss at these flat weights (zeros for non-trainable weights):
   * overall, then one per class present (classifiers, at most MAX_CLASS_GRADIENTS classes).
   */
  gradients(weights: Float32Array): Promise<Float32Array[]>;
  dispose(): void;
}

/** One model (unpacked once) and one validation source, evaluated for any flat weights. */
async function openEvaluator(file: string, labelColumn: string, modelBytes: Uint8Array, preprocess: PreprocessSpec | null): Promise<Evaluator> {
  const { unpackModel, setWeightTensors } = await import("../train/modelIo.js");
  const { evaluate } = await import("../train/trainLocal.js");
  const { openValidationSource } = await import("./validation.js");
  const view = await readModelBlob(modelBytes);
  const offsets = tensorOffsets(view.specs);
  const model = await unpackModel(modelBytes);
  const load = (weights: Float32Array): void => setWeightTensors(model, view.specs.map((spec, i) => ({
    name: spec.name, shape: spec.shape, dtype: "float32" as const,
    data: weights.subarray(offsets[i], offsets[i] + spec.shape.reduce((a, b) => a * b, 1)),
  })));
  try {
    const source = await openValidationSource(file, labelColumn, model, preprocess);
    return {
      async evaluate(weights) {
        load(weights);
        return evaluate(model, source);
      },
      async gradients(weights) {
        load(weights);
        return validationGradients(model, source, offsets, view.length);
      },
      dispose: () => model.dispose(),
    };
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/** Above this many classes only the overall validation gradient is computed. */
export const MAX_CLASS_GRADIENTS = 32;

/**
 * ∇ of the mean validation loss over the whole source and over each class's samples, flattened in
 * the model blob's weight order (model.weights is that order: setWeightTensors checks it). Each
 * batch is split by label, so the cost is one forward and backward pass over the source.
 */
async function validationGradients(
  model: import("@tensorflow/tfjs").LayersModel,
  source: import("../train/data/source.js").DataSource,
  offsets: number[],
  length: number,
): Promise<Float32Array[]> {
  const tf = await import("@tensorflow/tfjs");
  const { batches, stackBatch } = await import("../train/batches.js");
  const { modelLoss } = await import("../train/loss.js");
  const { describeModel } = await import("../train/modelShape.js");
  const shape = describeModel(model);
  const variables = model.weights.map((w) => (w.trainable ? (w.read() as import("@tensorflow/tfjs").Variable) : undefined));
  const trainable = variables.filter((v): v is import("@tensorflow/tfjs").Variable => v !== undefined);
  const classes = shape.task.kind === "classification" ? shape.task.classes : shape.task.kind === "binary" ? 2 : 1;
  const stratify = classes > 1 && classes <= MAX_CLASS_GRADIENTS;
  // Sums of per-sample gradients by stratum (the class, or everything in one), and sample counts.
  const sums = new Map<number, { sum: Float64Array; count: number }>();
  for await (const batch of batches(source, {
    batchSize: 256, splitSeed: 0, shuffleSeed: 0, valSplit: 0, wantValidation: false, shuffle: false, shuffleBuffer: 0,
  })) {
    const parts = new Map<number, typeof batch>();
    for (const sample of batch) {
      const key = stratify ? sample.y : 0;
      parts.set(key, [...(parts.get(key) ?? []), sample]);
    }
    for (const [key, part] of parts) {
      const { grads, value } = tf.variableGrads(() => {
        const { xs, ys } = stackBatch(part, shape.inputShape);
        // The part's sum of per-sample losses: strata and batches then add up exactly.
        return tf.mul(modelLoss(model, shape.task, xs, ys, false).loss, part.length) as import("@tensorflow/tfjs").Scalar;
      }, trainable);
      value.dispose();
      let entry = sums.get(key);
      if (!entry) sums.set(key, (entry = { sum: new Float64Array(length), count: 0 }));
      for (const [i, v] of variables.entries()) {
        if (!v) continue;
        const data = await grads[v.name].data();
        for (let k = 0; k < data.length; k++) entry.sum[offsets[i] + k] += data[k];
      }
      tf.dispose(Object.values(grads));
      entry.count += part.length;
    }
  }
  const strata = [...sums.entries()].sort(([a], [b]) => a - b).map(([, e]) => e);
  const total = strata.reduce((c, e) => c + e.count, 0);
  if (total === 0) return [];
  const overall = new Float32Array(length);
  for (const e of strata) for (let k = 0; k < length; k++) overall[k] += e.sum[k] / total;
  return [overall, ...(stratify ? strata.map((e) => Float32Array.from(e.sum, (x) => x / e.count)) : [])];
}
