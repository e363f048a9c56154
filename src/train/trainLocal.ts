/**
 * Local training: a custom loop over streamed batches (so data never has to fit in memory), with
 * sgd or adam, the FedProx proximal term towards the global weights, a seeded shuffle and split,
 * a per-epoch callback, a clean stop after the current batch (AbortSignal) with a checkpoint, and
 * resume from that checkpoint. The step itself (hand-written on wasm, over worker threads, or
 * tfjs's generic one) is step.ts's; batches, evaluation and checkpoints have their own modules.
 */
import os from "node:os";
import * as tf from "@tensorflow/tfjs";
import { UserError } from "../core/errors.js";
import { batches, splitCounts } from "./batches.js";
import { readCheckpoint, writeCheckpoint, type Checkpoint } from "./checkpoint.js";
import type { DataSource } from "./data/source.js";
import { evaluate } from "./evaluate.js";
import type { BatchProgress, EpochMetrics, TrainMetrics } from "./metrics.js";
import { getWeightTensors, setWeightTensors, type WeightTensor } from "./modelIo.js";
import { checkDataFitsModel, describeModel, type ModelShape } from "./modelShape.js";
import { createOptimizer, type OptimizerKind } from "./optimizer.js";
import { createTrainStep, prewarmTrainStep, type TrainStep } from "./step.js";

// Kept here for the callers that import them from trainLocal (orchestrator, demo, tests).
export { evaluate, type EvaluateOptions, type EvaluateResult } from "./evaluate.js";
export { checkDataFitsModel, describeModel, type ModelShape, type Task } from "./modelShape.js";
export { splitCounts } from "./batches.js";
export { lossAndCorrect } from "./loss.js";
export type { BatchProgress, EpochMetrics, TrainMetrics } from "./metrics.js";

export interface TrainLocalOptions {
  /** The global model; it is trained in place. */
  model: tf.LayersModel;
  data: DataSource;
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer?: OptimizerKind;
  /** FedProx μ: adds μ/2·‖w − w_global‖² to the loss. 0 is plain FedAvg local training. */
  mu?: number;
  seed?: number;
  /** Fraction of the samples held out for evaluation (chosen by a seeded hash of the index). */
  valSplit?: number;
  onEpoch?: (metrics: EpochMetrics) => void;
  onBatch?: (progress: BatchProgress) => void;
  /** Stops after the current batch; the checkpoint keeps the progress. */
  signal?: AbortSignal;
  /** Folder for the checkpoint (written at each epoch end and on stop). */
  checkpointDir?: string;
  /** Continue from the checkpoint in checkpointDir. */
  resume?: boolean;
  /** Samples held in the shuffle buffer when the data streams from disk. */
  shuffleBuffer?: number;
  /**
   * Worker threads for data-parallel training (the hand-written wasm step only: other steps run on
   * one thread). Default: the cores available, but one thread for runs too short to repay
   * starting the workers. Any count gives the same results as one thread within float rounding.
   */
  threads?: number;
  /** Time the phases of the parallel step, per thread (result.step.profile). */
  profile?: boolean;
  /** Rows per micro-batch within each thread's shard of the parallel step (0 or absent: whole shards). */
  microBatch?: number;
}

export interface TrainResult {
  model: tf.LayersModel;
  /** Trained weights, in model.weights order. */
  weights: WeightTensor[];
  /** Trained − global, same order and shapes. */
  delta: WeightTensor[];
  /** Training samples (validation excluded). */
  sampleCount: number;
  valCount: number;
  metrics: TrainMetrics;
  epochsCompleted: number;
  /** True when the signal stopped training before the last epoch ended. */
  stopped: boolean;
  /** The step that ran ("generic", "sequential" or "parallel") and its thread count. */
  step: { kind: TrainStep["kind"]; threads: number; profile?: TrainStep["profile"] };
}

/**
 * Below this much arithmetic in a run (forward and backward, all epochs) the default thread count
 * is one: starting a worker (loading tfjs and wasm) costs about a second of one core.
 */
const PARALLEL_MIN_FLOP = 2e10;

/** Threads for a run: the caller's count, else all cores for long enough runs (see PARALLEL_MIN_FLOP). */
function threadsFor(options: TrainLocalOptions, shape: ModelShape, trainSamples: number): number {
  if (options.threads !== undefined) {
    if (!Number.isInteger(options.threads) || options.threads < 1) {
      throw new UserError(`threads must be a positive integer, got ${options.threads}.`, { code: "TRAIN_OPTION" });
    }
    return options.threads;
  }
  return defaultThreads(options.model, shape, trainSamples, options.epochs);
}

/** The default thread count: every core when the run's arithmetic repays the workers' start, else one. */
function defaultThreads(model: tf.LayersModel, shape: ModelShape, trainSamples: number, epochs: number): number {
  const cores = os.availableParallelism();
  if (cores === 1) return 1;
  const work = 3 * forwardFlopPerSample(model, shape) * trainSamples * epochs;
  return work >= PARALLEL_MIN_FLOP ? cores : 1;
}

/** Training samples assumed by `prewarmTraining` when the caller left the thread count to the default. */
const PREWARM_SAMPLES = 1000;

/**
 * Starts the worker threads a run of `model` will train with while the caller still opens its data
 * (a worker's start is about a second of a core): the caller's thread count, or with the default,
 * all cores when PREWARM_SAMPLES samples would make the run parallel. A pool started for nothing
 * (the data set turned out small) stays idle, does not hold the process open, and is stopped when
 * another architecture trains.
 */
export async function prewarmTraining(model: tf.LayersModel, options: { threads?: number; epochs: number }): Promise<void> {
  const shape = describeModel(model);
  const threads = options.threads ?? defaultThreads(model, shape, PREWARM_SAMPLES, options.epochs);
  if (Number.isInteger(threads) && threads > 1) await prewarmTrainStep(model, shape, threads);
}

/** Multiply-adds ×2 of one sample's forward pass through the model's dense and conv layers (others count 0). */
export function forwardFlopPerSample(model: tf.LayersModel, shape: ModelShape): number {
  let flop = 0;
  for (const layer of model.layers) {
    const kernel = layer.weights.find((w) => w.originalName.endsWith("/kernel"));
    if (!kernel) continue;
    const out = layer.outputShape as (number | null)[];
    // A kernel's size is its inputs × outputs per output position; conv layers have H×W positions.
    const positions = out.length === 4 ? (out[1] ?? 1) * (out[2] ?? 1) : 1;
    flop += 2 * kernel.shape.reduce((a: number, b) => a * (b ?? 1), 1) * positions;
  }
  return flop > 0 ? flop : shape.inputShape.reduce((a, b) => a * Math.max(b, 1), 1);
}

async function resumeFrom(dir: string | undefined, model: tf.LayersModel, optimizer: tf.Optimizer, kind: OptimizerKind): Promise<Checkpoint> {
  if (!dir) throw new UserError("Resume needs a checkpoint folder.", { code: "RESUME_NO_CHECKPOINT" });
  const checkpoint = await readCheckpoint(dir);
  if (!checkpoint) throw new UserError(`No checkpoint in ${dir}.`, { code: "RESUME_NO_CHECKPOINT" });
  setWeightTensors(model, checkpoint.weights);
  if (checkpoint.optimizerSlots && checkpoint.state.optimizer?.kind === kind) {
    // Adam's moments and step count carry over, so a resumed run takes the steps it would have taken.
    const named = checkpoint.optimizerSlots.map((s) => ({ name: s.name, tensor: tf.tensor(s.data, s.shape, "float32") }));
    await optimizer.setWeights(named);
    named.forEach((n) => n.tensor.dispose());
  }
  return checkpoint;
}

/**
 * Train `model` on `data` for the given epochs and return weights, delta (trained − global),
 * sample count and metrics. Data-model mismatches throw before the first batch.
 */
export async function trainLocal(options: TrainLocalOptions): Promise<TrainResult> {
  const { model, data, epochs, batchSize, lr } = options;
  const mu = options.mu ?? 0;
  const seed = options.seed ?? 1;
  const valSplit = options.valSplit ?? 0;
  if (!Number.isInteger(epochs) || epochs < 1) throw new UserError(`epochs must be a positive integer, got ${epochs}.`, { code: "TRAIN_OPTION" });
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UserError(`batch size must be a positive integer, got ${batchSize}.`, { code: "TRAIN_OPTION" });
  if (!(lr > 0) || !Number.isFinite(lr)) throw new UserError(`learning rate must be a positive number, got ${lr}.`, { code: "TRAIN_OPTION" });
  if (!(valSplit >= 0 && valSplit < 1)) throw new UserError(`val split must be in [0, 1), got ${valSplit}.`, { code: "TRAIN_OPTION" });
  if (!(mu >= 0)) throw new UserError(`FedProx mu must be ≥ 0, got ${mu}.`, { code: "TRAIN_OPTION" });
  const shape = checkDataFitsModel(model, data);
  const counts = splitCounts(data.size, seed, valSplit);
  if (counts.train === 0) throw new UserError(`${data.name}: no training samples left after a ${valSplit} validation split.`, { code: "DATA_EMPTY" });

  const globalWeights = await getWeightTensors(model);
  const optimizerKind = options.optimizer ?? "sgd";
  const optimizer = createOptimizer(optimizerKind, lr);
  let step: TrainStep | undefined;
  let stopped = false;
  let epoch = 0;
  const history: EpochMetrics[] = [];
  try {
    // Made before a resume restores weights: FedProx pulls towards the global weights, not the checkpoint's.
    step = await createTrainStep({ model, shape, optimizer, mu, threads: threadsFor(options, shape, counts.train), profile: options.profile, microBatch: options.microBatch });
    let skipBatches = 0;
    if (options.resume) {
      const checkpoint = await resumeFrom(options.checkpointDir, model, optimizer, optimizerKind);
      epoch = checkpoint.state.epoch;
      skipBatches = checkpoint.state.batch;
      history.push(...checkpoint.state.epochs);
    }
    const startEpoch = epoch;
    for (; epoch < epochs && !stopped; epoch++) {
      const started = performance.now();
      let lossSum = 0;
      let correctSum = 0;
      let seen = 0;
      let batchIndex = 0;
      const batchesPerEpoch = Math.ceil(counts.train / batchSize);
      for await (const batch of batches(data, {
        batchSize,
        splitSeed: seed,
        shuffleSeed: (seed + (epoch + 1) * 7919) >>> 0,
        valSplit,
        wantValidation: false,
        shuffle: true,
        shuffleBuffer: options.shuffleBuffer ?? 4096,
      })) {
        batchIndex++;
        if (epoch === startEpoch && batchIndex <= skipBatches) continue;
        const { loss: lossValue, correct } = await step.run(batch);
        correctSum += correct;
        if (!Number.isFinite(lossValue)) {
          throw new UserError(`Training diverged at epoch ${epoch + 1}, batch ${batchIndex}: loss is ${lossValue}.`, {
            code: "TRAIN_DIVERGED",
            hint: "Lower --lr, or normalise the features (--normalize).",
          });
        }
        lossSum += lossValue * batch.length;
        seen += batch.length;
        options.onBatch?.({ epoch: epoch + 1, batch: batchIndex, batches: batchesPerEpoch, samples: seen, loss: lossSum / seen });
        if (options.signal?.aborted && batchIndex < batchesPerEpoch) {
          stopped = true;
          if (options.checkpointDir) {
            await writeCheckpoint(options.checkpointDir, model, { version: 1, epoch, batch: batchIndex, seed, epochs: history }, optimizer, optimizerKind);
          }
          break;
        }
      }
      if (stopped) break;
      const seconds = (performance.now() - started) / 1000;
      const metrics: EpochMetrics = {
        epoch: epoch + 1,
        loss: seen > 0 ? lossSum / seen : NaN,
        samples: seen,
        seconds,
        samplesPerSec: seconds > 0 ? seen / seconds : 0,
      };
      if (shape.task.kind !== "regression" && seen > 0) metrics.accuracy = correctSum / seen;
      if (counts.val > 0) {
        const val = await evaluate(model, data, { batchSize: Math.max(batchSize, 256), split: { seed, valSplit, part: "validation" } });
        metrics.valLoss = val.loss;
        if (val.accuracy !== undefined) metrics.valAccuracy = val.accuracy;
      }
      history.push(metrics);
      if (options.checkpointDir) {
        await writeCheckpoint(options.checkpointDir, model, { version: 1, epoch: epoch + 1, batch: 0, seed, epochs: history }, optimizer, optimizerKind);
      }
      options.onEpoch?.(metrics);
      if (options.signal?.aborted && epoch + 1 < epochs) {
        stopped = true;
        epoch++;
        break;
      }
    }
  } finally {
    await step?.dispose();
    optimizer.dispose();
  }

  const weights = await getWeightTensors(model);
  const delta = weights.map((w, i) => {
    const g = globalWeights[i].data;
    const d = new Float32Array(w.data.length);
    for (let k = 0; k < d.length; k++) d[k] = w.data[k] - g[k];
    return { name: w.name, shape: w.shape, dtype: "float32" as const, data: d };
  });
  const last = history[history.length - 1];
  const metrics: TrainMetrics = { loss: last?.loss ?? NaN, epochs: history };
  if (last?.accuracy !== undefined) metrics.accuracy = last.accuracy;
  if (last?.valLoss !== undefined) metrics.valLoss = last.valLoss;
  if (last?.valAccuracy !== undefined) metrics.valAccuracy = last.valAccuracy;
  return {
    model,
    weights,
    delta,
    sampleCount: counts.train,
    valCount: counts.val,
    metrics,
    epochsCompleted: Math.min(epoch, epochs),
    stopped,
    step: { kind: step.kind, threads: step.threads, ...(step.profile ? { profile: step.profile } : {}) },
  };
}
