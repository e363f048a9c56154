/**
 * `dat train --job <id>`: pull the round's global model (CID verified), train on local data with
 * the job's settings (a contributor may lower epochs / batch size, never raise them), then hand the
 * delta to the contribute pipeline unless told not to push.
 */
import type { LocalAccount } from "viem";
import { UsageError, UserError } from "../core/errors.js";
import type { Orchestrator, RoundInfo } from "../orchestrator/types.js";
import type { BackendPreference } from "../train/backends.js";
import type { RunTrainingOptions } from "../train/run.js";
import { modelAuthOf, pullModel } from "./pull.js";
import { contributeRound, type ContributeRoundOptions, type PushReceipt } from "./push.js";

/** The job's epochs / batch size, lowered by the contributor's flags when asked. */
export function effectiveHyper(round: RoundInfo, opts: { epochs?: number; batchSize?: number }): { epochs: number; batchSize: number } {
  for (const [flag, mine, job] of [["--epochs", opts.epochs, round.hyper.epochs], ["--batch-size", opts.batchSize, round.hyper.batchSize]] as const) {
    if (mine !== undefined && mine > job) {
      throw new UserError(`${flag} ${mine} is above the job's ${job}: a contributor may lower it, never raise it.`, { code: "HYPER_ABOVE_JOB" });
    }
  }
  return { epochs: opts.epochs ?? round.hyper.epochs, batchSize: opts.batchSize ?? round.hyper.batchSize };
}

/** What local training takes from the round: its hyper-parameters and the FedProx μ (0 otherwise). */
export function jobTrainingSettings(round: RoundInfo, lowered: { epochs?: number; batchSize?: number } = {}) {
  const { epochs, batchSize } = effectiveHyper(round, lowered);
  return {
    epochs, batchSize, lr: round.hyper.lr, optimizer: round.hyper.optimizer,
    mu: round.strategy === "fedprox" ? (round.strategyParams.mu ?? 0) : 0,
  };
}

export interface TrainForJobOptions {
  home: string;
  jobId: number;
  dataPath: string;
  labelColumn?: string;
  /**
   * The contributor's `--normalize`, if given: it must name the job's preprocessing (the job's
   * statistics are used, never the contributor's own); a different one is refused.
   */
  normalize?: string;
  epochs?: number;
  batchSize?: number;
  valSplit?: number;
  seed?: number;
  backend?: BackendPreference;
  /** Let `--backend webgpu` run on a software adapter (lavapipe/SwiftShader): for CI, never chosen by `auto`. */
  allowSoftwareGpu?: boolean;
  /** Worker threads for data-parallel training on wasm (default: the cores available). */
  threads?: number;
  /** The unlocked wallet that signs the submission; without one the delta is kept, not pushed. */
  account?: LocalAccount;
  transformDelta?: ContributeRoundOptions["transformDelta"];
  onStart?: (info: { jobId: number; round: number; epochs: number; batchSize: number }) => void;
  onEpoch?: RunTrainingOptions["onEpoch"];
  onTrained?: (info: { sampleCount: number; backend: string; loss: number }) => void;
}

export interface TrainForJobResult {
  jobId: number;
  round: number;
  runId: string;
  sampleCount: number;
  loss: number;
  accuracy: number | null;
  pushed: boolean;
  receipt: PushReceipt | null;
  privacy: PushReceipt["privacy"];
}

/** Pulls, trains and (with an account) contributes to the job's collecting round. */
export async function trainForJob(orchestrator: Orchestrator, options: TrainForJobOptions): Promise<TrainForJobResult> {
  const { jobId } = options;
  const round = await orchestrator.currentRound(jobId);
  const { dir } = await pullModel(options.home, orchestrator, round.modelCid, options.account && modelAuthOf(options.account));
  const preprocess = round.preprocess ?? { kind: "none" };
  if (options.normalize !== undefined) {
    const { parsePreprocess, describePreprocess } = await import("../core/preprocess.js");
    const asked = parsePreprocess(options.normalize);
    if (asked.kind !== preprocess.kind || (asked.kind === "scale" && asked.factor !== preprocess.factor)) {
      throw new UsageError(`--normalize ${options.normalize} differs from job ${jobId}'s preprocessing ${describePreprocess(preprocess)}.`, {
        code: "TRAIN_NORMALIZE_CONFLICT",
        hint: `Leave out --normalize: dat train --job ${jobId} applies the job's preprocessing (with the operator's statistics).`,
        data: { asked: options.normalize, job: describePreprocess(preprocess) },
      });
    }
  }
  const settings = jobTrainingSettings(round, options);
  const { runTraining } = await import("../train/run.js");
  options.onStart?.({ jobId, round: round.round, epochs: settings.epochs, batchSize: settings.batchSize });
  const run = await runTraining({
    home: options.home, modelDir: dir, dataPath: options.dataPath, labelColumn: options.labelColumn, preprocess,
    ...settings, valSplit: options.valSplit, seed: options.seed, backend: options.backend, allowSoftwareGpu: options.allowSoftwareGpu, threads: options.threads, jobId,
    onEpoch: options.onEpoch,
  });
  options.onTrained?.({ sampleCount: run.sampleCount, backend: run.backend, loss: run.metrics.loss });
  const receipt = options.account
    ? await contributeRound(orchestrator, options.account, round, { tensors: run.delta, sampleCount: run.sampleCount, metrics: { ...run.metrics } }, {
      home: options.home, transformDelta: options.transformDelta,
    })
    : null;
  return {
    jobId, round: round.round, runId: run.id, sampleCount: run.sampleCount, loss: run.metrics.loss, accuracy: run.metrics.accuracy ?? null,
    pushed: Boolean(receipt), receipt, privacy: receipt?.privacy ?? null,
  };
}
