/** `dat train`: parse and check the flags, run one training service, render progress and result. */
import { configOptions, type CliContext } from "../../context.js";
import { stopOnInterrupt } from "../../interrupt.js";
import { UsageError, UserError } from "../../../core/errors.js";
import type { ProgressBar } from "../../output.js";
import { formatPercent } from "../../format.js";

export interface TrainCommandOptions {
  job?: string;
  model?: string;
  data?: string;
  labelColumn?: string;
  normalize?: string;
  epochs?: string;
  batchSize?: string;
  lr?: string;
  optimizer?: string;
  mu?: string;
  valSplit?: string;
  backend?: string;
  allowSoftwareGpu?: boolean;
  seed?: string;
  threads?: string;
  push: boolean;
  resume?: boolean;
  follow?: boolean;
}

/** Flags after checking, as the training service and the --job path take them. */
export interface ParsedTrainOptions {
  jobId?: number;
  modelDir?: string;
  dataPath?: string;
  labelColumn?: string;
  normalize: "none" | "minmax" | "zscore";
  /** --normalize as written (with --job it must equal the job's preprocessing, which is what runs). */
  normalizeGiven?: string;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  optimizer?: "sgd" | "adam";
  mu?: number;
  valSplit: number;
  backend?: "auto" | "gpu" | "native" | "webgpu" | "wasm" | "cpu";
  /** --allow-software-gpu given; undefined: config train.allowSoftwareGpu decides. */
  allowSoftwareGpu?: boolean;
  seed: number;
  threads?: number;
  push: boolean;
  resume: boolean;
}

function positiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got "${value}".`, { code: "USAGE" });
  return n;
}

function number(flag: string, value: string | undefined, check: (n: number) => boolean, want: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || !check(n)) throw new UsageError(`${flag} must be ${want}, got "${value}".`, { code: "USAGE" });
  return n;
}

function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${flag} must be one of ${allowed.join(", ")}, got "${value}".`, { code: "USAGE" });
  return value as T;
}

/** Check every flag's form; raise UsageError naming the flag. */
export function parseTrainOptions(opts: TrainCommandOptions): ParsedTrainOptions {
  const parsed: ParsedTrainOptions = {
    jobId: positiveInt("--job", opts.job),
    modelDir: opts.model,
    dataPath: opts.data,
    labelColumn: opts.labelColumn,
    // With --job the job's preprocessing runs; a contributor's --normalize may only restate it.
    normalize: opts.job !== undefined ? "none" : oneOf("--normalize", opts.normalize ?? "none", ["none", "minmax", "zscore"] as const)!,
    normalizeGiven: opts.normalize,
    epochs: positiveInt("--epochs", opts.epochs),
    batchSize: positiveInt("--batch-size", opts.batchSize),
    lr: number("--lr", opts.lr, (n) => n > 0, "a positive number"),
    optimizer: oneOf("--optimizer", opts.optimizer, ["sgd", "adam"] as const),
    mu: number("--mu", opts.mu, (n) => n >= 0, "a number ≥ 0"),
    valSplit: number("--val-split", opts.valSplit ?? "0.1", (n) => n >= 0 && n < 1, "a fraction in [0, 1)")!,
    backend: oneOf("--backend", opts.backend, ["auto", "gpu", "native", "webgpu", "wasm", "cpu"] as const),
    allowSoftwareGpu: opts.allowSoftwareGpu ? true : undefined,
    seed: number("--seed", opts.seed ?? "1", (n) => Number.isInteger(n) && n >= 0, "a non-negative integer")!,
    threads: positiveInt("--threads", opts.threads),
    push: opts.push !== false,
    resume: Boolean(opts.resume),
  };
  if (parsed.jobId === undefined && !parsed.resume) {
    if (!parsed.modelDir) throw new UsageError("Pass --job <id>, or --model <dir> with --data <path>.", { code: "USAGE" });
    if (!parsed.dataPath) throw new UsageError("Pass --data <path>: the local data to train on.", { code: "USAGE" });
  }
  if (parsed.jobId === undefined && !parsed.push) {
    throw new UsageError("--no-push only applies with --job.", { code: "USAGE" });
  }
  return parsed;
}

function fmt(n: number | undefined, digits = 4): string {
  return n === undefined || !Number.isFinite(n) ? "-" : n.toFixed(digits);
}

export async function train(ctx: CliContext, opts: TrainCommandOptions): Promise<void> {
  const parsed = parseTrainOptions(opts);
  if (parsed.dataPath !== undefined) (await import("../../checks.js")).checkLocalPath("--data", parsed.dataPath);
  if (parsed.modelDir !== undefined) (await import("../../checks.js")).checkLocalPath("--model", parsed.modelDir, "MODEL_NOT_FOUND");
  if (opts.follow) {
    await (await import("./follow.js")).trainFollow(ctx, parsed);
    return;
  }
  if (parsed.jobId !== undefined) {
    await trainJob(ctx, parsed, parsed.jobId);
    return;
  }
  let backend = parsed.backend;
  let allowSoftwareGpu = parsed.allowSoftwareGpu;
  if (!backend || allowSoftwareGpu === undefined) {
    const { loadConfig } = await import("../../../config/index.js");
    const config = (await loadConfig(configOptions(ctx))).values.train;
    backend ??= config.backend;
    allowSoftwareGpu ??= config.allowSoftwareGpu;
  }
  const { runTraining } = await import("../../../train/run.js");
  const interrupt = stopOnInterrupt(ctx, "batch");
  // One bar for the whole run, redrawn in place; the epoch and the last loss ride in its payload.
  const bar: ProgressBar = await ctx.out.progress("epoch {epoch}/{epochs} [{bar}] {percentage}% | loss {loss} | {rate} samples/s");
  let batches = 0;
  let epochs = 0;
  let rate = "-";
  try {
    const result = await runTraining({
      home: ctx.home,
      modelDir: parsed.modelDir,
      dataPath: parsed.dataPath,
      labelColumn: parsed.labelColumn,
      normalize: parsed.normalize,
      epochs: parsed.epochs,
      batchSize: parsed.batchSize,
      lr: parsed.lr,
      optimizer: parsed.optimizer,
      mu: parsed.mu,
      valSplit: parsed.valSplit,
      seed: parsed.seed,
      threads: parsed.threads,
      backend,
      allowSoftwareGpu,
      resume: parsed.resume,
      signal: interrupt.signal,
      onStart: (info) => {
        batches = info.batchesPerEpoch;
        epochs = info.epochs;
        for (const w of info.warnings) ctx.out.warn(w);
        ctx.out.info(`run ${info.id}: ${info.sampleCount} training samples, ${info.valCount} held out, backend ${info.backend}`);
        ctx.out.event("train_start", info);
        bar.start(Math.max(1, epochs * batches), { epoch: 1, epochs, loss: "-", rate });
      },
      onBatch: (p) => {
        bar.update((p.epoch - 1) * batches + p.batch, { epoch: p.epoch, epochs, loss: fmt(p.loss), rate });
      },
      onEpoch: (m) => {
        rate = m.samplesPerSec.toFixed(0);
        bar.update(m.epoch * batches, { epoch: m.epoch, epochs, loss: fmt(m.loss), rate });
        ctx.out.event("epoch", { ...m });
        if (!ctx.out.interactive) {
          ctx.out.info(
            `epoch ${m.epoch}: loss ${fmt(m.loss)} acc ${formatPercent(m.accuracy)} val_loss ${fmt(m.valLoss)} val_acc ${formatPercent(m.valAccuracy)} ${m.samplesPerSec.toFixed(0)} samples/s`,
          );
        }
      },
    });
    bar.stop();
    const { weights: _w, delta: _d, ...summary } = result;
    ctx.out.result(summary, (r, c) => [
      r.stopped
        ? c.yellow(`Stopped after ${r.epochsCompleted} full epoch(s); continue with: dat train --resume`)
        : c.green(`Trained ${r.epochsCompleted} epoch(s) on ${r.sampleCount} samples (${r.backend}).`),
      `run:        ${r.id}`,
      `loss:       ${fmt(r.metrics.loss)}   accuracy: ${formatPercent(r.metrics.accuracy)}`,
      `validation: ${r.valCount} samples, loss ${fmt(r.metrics.valLoss)}, accuracy ${formatPercent(r.metrics.valAccuracy)}`,
      `model:      ${r.modelDir}`,
      `delta:      ${r.deltaPath}`,
    ]);
  } finally {
    bar.stop();
    interrupt.dispose();
  }
}

/** `dat train --job`: unlock first (before any training or wait), then the contributor's service. */
async function trainJob(ctx: CliContext, parsed: ParsedTrainOptions, jobId: number): Promise<void> {
  if (!parsed.dataPath) throw new UserError("Pass --data <path>: the local data to train on.", { code: "USAGE" });
  const { checkLocalPath, refuseSecondSubmission } = await import("../../checks.js");
  // Local inputs first: a missing file is reported as such, not as whatever the network says.
  checkLocalPath("--data", parsed.dataPath);
  const account = parsed.push ? await (await import("../../unlock.js")).unlockAccount(ctx) : undefined;
  const [{ openOrchestrator }, { trainForJob }, { privacyLines }] = await Promise.all([
    import("../../orchestrator.js"), import("../../../contributor/trainForJob.js"), import("../../privacyLines.js"),
  ]);
  const orch = await openOrchestrator(ctx);
  try {
    // The intake takes one delta per address and round: refuse before minutes of training, not after.
    if (account) await refuseSecondSubmission(orch, jobId, account.address);
    const result = await trainForJob(orch, {
      home: ctx.home, jobId, dataPath: parsed.dataPath, labelColumn: parsed.labelColumn, normalize: parsed.normalizeGiven,
      epochs: parsed.epochs, batchSize: parsed.batchSize, valSplit: parsed.valSplit, seed: parsed.seed, backend: parsed.backend, allowSoftwareGpu: parsed.allowSoftwareGpu, threads: parsed.threads, account,
      onStart: (info) => ctx.out.event("train-start", info),
      onEpoch: (m) => ctx.out.event("epoch", { ...m }),
      onTrained: (t) => ctx.out.info(`trained ${t.sampleCount} samples on ${t.backend}: loss ${t.loss.toFixed(4)}`),
    });
    const receipt = result.receipt;
    if (receipt) ctx.out.event("pushed", { jobId: receipt.jobId, round: receipt.round, blobCid: receipt.blobCid, accepted: receipt.accepted });
    ctx.out.result(result, (r) => [
      `job ${r.jobId} round ${r.round}: trained on ${r.sampleCount} samples (loss ${r.loss.toFixed(4)})`,
      receipt ? `pushed ${receipt.blobCid} (${receipt.accepted} in the round)` : "not pushed (--no-push): dat push --job " + r.jobId,
      ...privacyLines(r.privacy),
    ]);
  } finally {
    await orch.close();
  }
}
