/**
 * The one contribute pipeline, run by `dat train --job`, `dat push` and `dat demo` alike:
 * (transform, for the demo's attacks) → clip and noise as the job says (core/privacy) → privacy
 * ledger → encode with the job's encoding (top-k residual kept in the home) → seal to the round
 * key → sign → submit (the orchestrator stores the blob and acknowledges).
 */
import fs from "node:fs";
import path from "node:path";
import type { LocalAccount } from "viem";
import { NotFoundError, UserError } from "../core/errors.js";
import { privacySpent, type PrivacyReport } from "../core/privacy/spent.js";
import type { Orchestrator, RoundInfo, SubmissionReceipt } from "../orchestrator/types.js";
import { metricsSalt, recordPrivacyRound } from "./privacyLedger.js";
import { pulledModelDir } from "./pull.js";

/** One named tensor of a delta (trained − global), in model order. */
export interface DeltaTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** What a contributor trained for a round. */
export interface TrainedDelta {
  tensors: DeltaTensor[];
  sampleCount: number;
  /** Training metrics, hashed into the signed message (non-scalar values are dropped). */
  metrics?: Record<string, unknown>;
}

export interface ContributeRoundOptions {
  /** The contributor's home: its privacy ledger and top-k residuals live there. */
  home: string;
  /**
   * Applied to the plain delta before clipping, noise and sealing: where a malicious contributor
   * would tamper (the demo's attacks plug in here), so the orchestrator sees a well-formed submission.
   */
  transformDelta?: (tensors: DeltaTensor[]) => DeltaTensor[];
}

/** A submission's receipt with the privacy this contributor has spent on the job so far (DP jobs). */
export type PushReceipt = SubmissionReceipt & { privacy: PrivacyReport | null };

/** Clips / noises per the job, encodes, seals to the round key, signs and submits one delta. */
export async function contributeRound(
  orchestrator: Orchestrator,
  account: LocalAccount,
  round: RoundInfo,
  delta: TrainedDelta,
  options: ContributeRoundOptions,
): Promise<PushReceipt> {
  let tensors = options.transformDelta ? options.transformDelta(delta.tensors) : delta.tensors;
  let privacy: PrivacyReport | null = null;
  if (round.dp) {
    const { privatizeDelta } = await import("../core/privacy/privatize.js");
    const out = privatizeDelta(tensors.map((t) => t.data), { clipNorm: round.dp.clip, noiseMultiplier: round.dp.noise });
    tensors = tensors.map((t, i) => ({ ...t, data: out.arrays[i] }));
    // Counted before the bytes leave: a delta sent but never acknowledged may still have been seen.
    privacy = privacySpent(round.dp, recordPrivacyRound(options.home, round.jobId, round.round).length);
  }
  const residualFile = path.join(options.home, "residuals", `job-${round.jobId}.bin`);
  const residual = round.encoding.startsWith("topk") ? readResidual(residualFile, tensors) : undefined;
  const { buildSubmission } = await import("./submission.js");
  const metrics = Object.fromEntries(
    Object.entries(delta.metrics ?? {}).filter(([, v]) => ["number", "string", "boolean"].includes(typeof v)),
  ) as Record<string, number | string | boolean>;
  // The metrics hash is salted with a secret kept in this home (privacyLedger.metricsSalt): an
  // unsalted hash of a few training numbers can be brute-forced back to them.
  metrics.salt = metricsSalt(options.home, round.jobId);
  // With DP on, the exact count would single out a data set: report its power-of-two bucket.
  const { coarsenSampleCount } = await import("../core/privacy/coarsenSampleCount.js");
  const sampleCount = coarsenSampleCount(delta.sampleCount, { dp: Boolean(round.dp) });
  const built = await buildSubmission({ account, round, tensors, sampleCount, metrics, residual });
  const receipt = await orchestrator.submit(built.submission, built.sealed);
  // Keep the top-k residual only once the submission is acknowledged (error feedback for next round).
  if (built.residual) writeResidual(residualFile, built.residual);
  return { ...receipt, privacy };
}

/** `dat push --job <id>`: seals and submits the last delta trained for the job's current round. */
export async function pushLastDelta(orchestrator: Orchestrator, account: LocalAccount, options: { home: string; jobId: number }): Promise<PushReceipt> {
  const { home, jobId } = options;
  const round = await orchestrator.currentRound(jobId);
  const { openDatabase } = await import("../db/index.js");
  const { listTrainingRuns } = await import("../db/trainingRuns.js");
  const db = openDatabase(home);
  const run = (() => {
    try {
      return listTrainingRuns(db, 200).find((r) => r.jobId === jobId && r.status === "completed" && r.deltaPath);
    } finally {
      db.close();
    }
  })();
  if (!run?.deltaPath) {
    throw new NotFoundError(`No trained delta for job ${jobId}.`, { code: "NO_DELTA", hint: `Train first: dat train --job ${jobId} --data <file> --no-push` });
  }
  if (path.resolve(run.modelDir) !== path.resolve(pulledModelDir(home, round.modelCid))) {
    throw new UserError(`The last delta for job ${jobId} was trained on another global model than round ${round.round}'s.`, {
      code: "DELTA_STALE",
      hint: `Train again on the current model: dat train --job ${jobId} --data <file>`,
    });
  }
  const { readDeltaFiles } = await import("../train/run.js");
  const tensors = await readDeltaFiles(run.deltaPath);
  return contributeRound(orchestrator, account, round, { tensors, sampleCount: run.sampleCount, metrics: run.metrics }, { home });
}

function readResidual(file: string, tensors: { data: Float32Array }[]): Float32Array[] | undefined {
  if (!fs.existsSync(file)) return undefined;
  const all = new Float32Array(new Uint8Array(fs.readFileSync(file)).buffer);
  const total = tensors.reduce((s, t) => s + t.data.length, 0);
  if (all.length !== total) return undefined; // another model: start afresh
  let at = 0;
  return tensors.map((t) => all.slice(at, (at += t.data.length)));
}

function writeResidual(file: string, residual: Float32Array[]): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const total = residual.reduce((s, r) => s + r.length, 0);
  const all = new Float32Array(total);
  let at = 0;
  for (const r of residual) {
    all.set(r, at);
    at += r.length;
  }
  fs.writeFileSync(file + ".tmp", new Uint8Array(all.buffer), { mode: 0o600 });
  fs.renameSync(file + ".tmp", file);
}
