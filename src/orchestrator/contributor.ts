/**
 * The contributor's services: pull the round's global model (CID verified), train on local data
 * with the job's hyper-parameters (lower epochs / batch size allowed, never higher), and push the
 * delta: clip and noise per the job, encode with the job's encoding (top-k residual kept locally),
 * seal to the round key, sign, submit.
 */
import fs from "node:fs";
import path from "node:path";
import type { CliContext } from "../cli/context.js";
import type { ParsedTrainOptions } from "../cli/commands/train/train.js";
import { MalformedInputError, NotFoundError, UserError } from "../core/errors.js";
import type { Orchestrator, RoundInfo, SubmissionReceipt } from "./types.js";
import { connectOrchestrator } from "./connect.js";
import { privacySpent, recordPrivacyRound, type PrivacyReport } from "./privacy.js";

/** Folder of a pulled model in a home. */
export function pulledModelDir(home: string, cid: string): string {
  return path.join(home, "models", cid);
}

/** Fetches the model of a CID, checks the bytes against the CID and saves it as a tfjs folder. */
export async function pullModel(home: string, orch: Orchestrator, cid: string): Promise<{ dir: string; cached: boolean }> {
  const dir = pulledModelDir(home, cid);
  if (fs.existsSync(path.join(dir, "model.json"))) return { dir, cached: true };
  const bytes = await orch.getModel(cid);
  const { bytesMatchCid } = await import("../store/cid.js");
  if (!(await bytesMatchCid(bytes, cid))) {
    throw new MalformedInputError(`The model received for ${cid} does not match its CID.`, {
      code: "MODEL_CID_MISMATCH",
      hint: "The orchestrator or a proxy sent other bytes; nothing was saved.",
    });
  }
  const { unpackModelToDir } = await import("../train/modelIo.js");
  const tmp = `${dir}.tmp-${process.pid}`;
  await unpackModelToDir(bytes, tmp);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return { dir, cached: false };
}

/** `dat model pull --job`: the current round's model, else the job's latest global model. */
export async function pullJobModel(ctx: CliContext, jobId: number): Promise<{ jobId: number; cid: string; dir: string; cached: boolean; round: number | null }> {
  const orch = await connectOrchestrator(ctx);
  try {
    const round = await orch.currentRound(jobId).catch((error: { code?: string }) => {
      if (error?.code === "ROUND_NOT_OPEN") return undefined;
      throw error;
    });
    const cid = round?.modelCid ?? (await orch.getJob(jobId)).modelCid;
    const pulled = await pullModel(ctx.home, orch, cid);
    return { jobId, cid, ...pulled, round: round?.round ?? null };
  } finally {
    await orch.close();
  }
}

/** The job's epochs / batch size, lowered by the contributor's flags when asked. */
export function effectiveHyper(round: RoundInfo, opts: { epochs?: number; batchSize?: number }): { epochs: number; batchSize: number } {
  for (const [flag, mine, job] of [["--epochs", opts.epochs, round.hyper.epochs], ["--batch-size", opts.batchSize, round.hyper.batchSize]] as const) {
    if (mine !== undefined && mine > job) {
      throw new UserError(`${flag} ${mine} is above the job's ${job}: a contributor may lower it, never raise it.`, { code: "HYPER_ABOVE_JOB" });
    }
  }
  return { epochs: opts.epochs ?? round.hyper.epochs, batchSize: opts.batchSize ?? round.hyper.batchSize };
}

/** `dat train --job <id>`: pull if needed, train, then push unless --no-push. */
export async function trainForJob(ctx: CliContext, opts: ParsedTrainOptions): Promise<void> {
  const jobId = opts.jobId!;
  if (!opts.dataPath) throw new UserError("Pass --data <path>: the local data to train on.", { code: "USAGE" });
  const orch = await connectOrchestrator(ctx);
  try {
    const round = await orch.currentRound(jobId);
    const { dir } = await pullModel(ctx.home, orch, round.modelCid);
    const hyper = effectiveHyper(round, opts);
    const { runTraining } = await import("../train/run.js");
    ctx.out.event("train-start", { jobId, round: round.round, epochs: hyper.epochs, batchSize: hyper.batchSize });
    const run = await runTraining({
      home: ctx.home, modelDir: dir, dataPath: opts.dataPath, labelColumn: opts.labelColumn, normalize: opts.normalize,
      epochs: hyper.epochs, batchSize: hyper.batchSize, lr: round.hyper.lr, optimizer: round.hyper.optimizer,
      mu: round.strategy === "fedprox" ? round.strategyParams.mu : 0, valSplit: opts.valSplit, seed: opts.seed,
      backend: opts.backend, allowSoftwareGpu: opts.allowSoftwareGpu, jobId,
      onEpoch: (m) => ctx.out.event("epoch", { ...m }),
    });
    ctx.out.info(`trained ${run.sampleCount} samples on ${run.backend}: loss ${run.metrics.loss.toFixed(4)}`);
    let receipt: PushReceipt | undefined;
    if (opts.push) receipt = await pushDelta(ctx, orch, round, run.delta, run.sampleCount, { ...run.metrics });
    ctx.out.result(
      { jobId, round: round.round, runId: run.id, sampleCount: run.sampleCount, loss: run.metrics.loss, accuracy: run.metrics.accuracy ?? null, pushed: Boolean(receipt), receipt: receipt ?? null, privacy: receipt?.privacy ?? null },
      (r) => [`job ${r.jobId} round ${r.round}: trained on ${r.sampleCount} samples (loss ${r.loss.toFixed(4)})`, r.pushed ? `pushed ${receipt!.blobCid} (${receipt!.accepted} in the round)` : "not pushed (--no-push): dat push --job " + r.jobId, ...privacyLines(r.privacy)],
    );
  } finally {
    await orch.close();
  }
}

/** `dat push --job <id>`: seal and submit the last delta trained for the job's current round. */
export async function pushLastDelta(ctx: CliContext, jobId: number): Promise<PushReceipt> {
  const orch = await connectOrchestrator(ctx);
  try {
    const round = await orch.currentRound(jobId);
    const { openDatabase } = await import("../db/index.js");
    const { listTrainingRuns } = await import("../db/trainingRuns.js");
    const db = openDatabase(ctx.home);
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
    if (path.resolve(run.modelDir) !== path.resolve(pulledModelDir(ctx.home, round.modelCid))) {
      throw new UserError(`The last delta for job ${jobId} was trained on another global model than round ${round.round}'s.`, {
        code: "DELTA_STALE",
        hint: `Train again on the current model: dat train --job ${jobId} --data <file>`,
      });
    }
    const { readDeltaFiles } = await import("../train/run.js");
    const delta = await readDeltaFiles(run.deltaPath);
    return await pushDelta(ctx, orch, round, delta, run.sampleCount, run.metrics);
  } finally {
    await orch.close();
  }
}

/** A submission's receipt with the privacy this contributor has spent on the job so far (DP jobs). */
export type PushReceipt = SubmissionReceipt & { privacy: PrivacyReport | null };

/** Clip / noise per the job (src/core/privacy), encode, seal to the round key, sign and submit one delta. */
export async function pushDelta(
  ctx: CliContext,
  orch: Orchestrator,
  round: RoundInfo,
  delta: { name: string; shape: number[]; data: Float32Array }[],
  sampleCount: number,
  metrics: Record<string, unknown>,
): Promise<PushReceipt> {
  const { unlockAccount } = await import("../cli/unlock.js");
  const account = await unlockAccount(ctx);
  let tensors = delta;
  let privacy: PrivacyReport | null = null;
  if (round.dp) {
    const { privatizeDelta } = await import("../core/privacy/index.js");
    const out = privatizeDelta(delta.map((t) => t.data), { clipNorm: round.dp.clip, noiseMultiplier: round.dp.noise });
    tensors = delta.map((t, i) => ({ ...t, data: out.arrays[i] }));
    // Counted before the bytes leave: a delta sent but never acknowledged may still have been seen.
    privacy = privacySpent(round.dp, recordPrivacyRound(ctx.home, round.jobId, round.round).length);
  }
  const residualFile = path.join(ctx.home, "residuals", `job-${round.jobId}.bin`);
  const residual = round.encoding.startsWith("topk") ? readResidual(residualFile, tensors) : undefined;
  const { buildSubmission } = await import("./submission.js");
  const flatMetrics = Object.fromEntries(Object.entries(metrics).filter(([, v]) => ["number", "string", "boolean"].includes(typeof v))) as Record<string, number | string | boolean>;
  const built = await buildSubmission({ account, round, tensors, sampleCount, metrics: flatMetrics, residual });
  const receipt = await orch.submit(built.submission, built.sealed);
  // Keep the top-k residual only once the submission is acknowledged (error feedback for next round).
  if (built.residual) writeResidual(residualFile, built.residual);
  ctx.out.event("pushed", { jobId: round.jobId, round: round.round, blobCid: receipt.blobCid, accepted: receipt.accepted });
  return { ...receipt, privacy };
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

/** One line saying the privacy spent, for the human renderers. */
export function privacyLines(p: PrivacyReport | null | undefined): string[] {
  if (!p) return [];
  const eps = p.epsilon === null ? "∞ (no noise: no DP guarantee)" : p.epsilon.toFixed(3);
  return [`privacy spent on this job: ε = ${eps} at δ = ${p.delta} over ${p.rounds} round(s) (σ = ${p.noiseMultiplier}·${p.clipNorm}, sampling rate ${p.sampleRate})`];
}
