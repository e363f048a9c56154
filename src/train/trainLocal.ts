/**
 * Local training: a custom loop over streamed batches (so data never has to fit in memory), with
 * sgd or adam, the FedProx proximal term towards the global weights, a seeded shuffle and split,
 * a per-epoch callback, a clean stop after the current batch (AbortSignal) with a checkpoint, and
 * resume from that checkpoint. Every batch runs inside tf.tidy: memory stays flat across epochs.
 * On wasm, plain Sequential classifiers take a hand-written step (sequentialStep.ts) with the same
 * gradients and optimizer; every other model takes tfjs's generic optimizer.minimize step.
 */
import fs from "node:fs";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { UserError } from "../core/errors.js";
import { featureSize, type DataSource, type Sample } from "./data/source.js";
import { getWeightTensors, loadModelDir, saveModelDir, setWeightTensors, type WeightTensor } from "./modelIo.js";
import { createOptimizer, type OptimizerKind } from "./optimizer.js";
import { createRng, hashUnit, permutation } from "./rng.js";
import { planSequentialStep } from "./sequentialStep.js";

export type Task = { kind: "classification"; classes: number; fromLogits: boolean } | { kind: "binary" } | { kind: "regression" };

export interface ModelShape {
  /** One sample's input shape (without the batch dimension). */
  inputShape: number[];
  task: Task;
}

/** What the model expects and predicts, read from its input and last layer. */
export function describeModel(model: tf.LayersModel): ModelShape {
  const input = model.inputs[0].shape.slice(1).map((d) => d ?? -1);
  const units = model.outputs[0].shape[model.outputs[0].shape.length - 1] ?? 1;
  const last = model.layers[model.layers.length - 1];
  const activation = String((last.getConfig() as { activation?: unknown }).activation ?? "linear");
  let task: Task;
  if (units > 1) task = { kind: "classification", classes: units, fromLogits: activation !== "softmax" };
  else if (activation === "sigmoid") task = { kind: "binary" };
  else task = { kind: "regression" };
  return { inputShape: input, task };
}

/**
 * Check, before training, that the data fits the model: same number of features (a flat row may
 * feed an image model of the same size) and labels inside the model's classes.
 */
export function checkDataFitsModel(model: tf.LayersModel, data: DataSource, modelName = "the model"): ModelShape {
  const shape = describeModel(model);
  const want = featureSize(shape.inputShape);
  const have = featureSize(data.featureShape);
  if (shape.inputShape.some((d) => d < 0) || want !== have) {
    throw new UserError(
      `${data.name} has ${have} features per sample [${data.featureShape.join("×")}], but ${modelName} expects input [${shape.inputShape.join("×")}].`,
      { code: "DATA_MODEL_MISMATCH", hint: "Pick the model that matches this data, or the --label-column that leaves the right features." },
    );
  }
  if (data.size === 0) throw new UserError(`${data.name} holds no samples.`, { code: "DATA_EMPTY" });
  if (shape.task.kind === "classification" || shape.task.kind === "binary") {
    const classes = shape.task.kind === "classification" ? shape.task.classes : 2;
    if (!data.integerLabels || data.maxLabel >= classes) {
      throw new UserError(
        `${data.name} has labels outside the model's ${classes} classes (0..${classes - 1}); largest label ${data.maxLabel}${data.integerLabels ? "" : ", some not integers"}.`,
        { code: "DATA_LABEL_RANGE" },
      );
    }
  }
  return shape;
}

export interface EpochMetrics {
  epoch: number;
  loss: number;
  accuracy?: number;
  valLoss?: number;
  valAccuracy?: number;
  samples: number;
  seconds: number;
  samplesPerSec: number;
}

export interface BatchProgress {
  epoch: number;
  batch: number;
  batches: number;
  samples: number;
  loss: number;
}

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
}

export interface TrainMetrics {
  loss: number;
  accuracy?: number;
  valLoss?: number;
  valAccuracy?: number;
  epochs: EpochMetrics[];
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
}

interface CheckpointState {
  version: 1;
  /** The optimizer's slots (adam's moments, the iteration count), stored in optimizer.bin in this order. */
  optimizer?: { kind: OptimizerKind; tensors: { name: string; shape: number[] }[] };
  epoch: number;
  batch: number;
  seed: number;
  epochs: EpochMetrics[];
}

function isValidation(seed: number, index: number, valSplit: number): boolean {
  return valSplit > 0 && hashUnit(seed, index) < valSplit;
}

/** The generic step's loss for a task (and, for classifiers, the count of correct predictions). */
export function lossAndCorrect(
  task: Task,
  preds: tf.Tensor,
  labels: tf.Tensor1D,
): { loss: tf.Scalar; correct: tf.Scalar | undefined } {
  if (task.kind === "classification") {
    const oneHot = tf.oneHot(tf.cast(labels, "int32"), task.classes);
    const loss = task.fromLogits
      ? tf.losses.softmaxCrossEntropy(oneHot, preds)
      : tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.log(tf.clipByValue(preds, 1e-7, 1))), -1)));
    const correct = tf.sum(tf.cast(tf.equal(tf.argMax(preds, -1), tf.cast(labels, "int32")), "float32"));
    return { loss: loss as tf.Scalar, correct: correct as tf.Scalar };
  }
  const flat = preds.reshape([-1]);
  if (task.kind === "binary") {
    const p = tf.clipByValue(flat, 1e-7, 1 - 1e-7);
    const loss = tf.neg(tf.mean(tf.add(tf.mul(labels, tf.log(p)), tf.mul(tf.sub(1, labels), tf.log(tf.sub(1, p))))));
    const correct = tf.sum(tf.cast(tf.equal(tf.greater(flat, 0.5), tf.greater(labels, 0.5)), "float32"));
    return { loss: loss as tf.Scalar, correct: correct as tf.Scalar };
  }
  return { loss: tf.losses.meanSquaredError(labels, flat) as tf.Scalar, correct: undefined };
}

/** Streams batches of training (or validation) samples in a seeded order for one epoch. */
async function* batches(
  data: DataSource,
  options: {
    batchSize: number;
    /** Fixed for a run: decides which samples are held out. */
    splitSeed: number;
    /** Changes every epoch: the order. */
    shuffleSeed: number;
    valSplit: number;
    wantValidation: boolean;
    shuffle: boolean;
    shuffleBuffer: number;
  },
): AsyncGenerator<Sample[]> {
  const { batchSize, splitSeed, valSplit, wantValidation, shuffle } = options;
  const rng = createRng(options.shuffleSeed);
  const keep = (i: number): boolean => isValidation(splitSeed, i, valSplit) === wantValidation;
  let batch: Sample[] = [];
  const emit = function* (sample: Sample): Generator<Sample[]> {
    batch.push(sample);
    if (batch.length === batchSize) {
      yield batch;
      batch = [];
    }
  };
  if (data.get && shuffle) {
    for (const i of permutation(data.size, rng)) if (keep(i)) yield* emit(data.get(i));
  } else if (data.get) {
    for (let i = 0; i < data.size; i++) if (keep(i)) yield* emit(data.get(i));
  } else {
    const buffer: Sample[] = [];
    let i = 0;
    for await (const sample of data.read()) {
      const index = i++;
      if (!keep(index)) continue;
      // Loaders may reuse buffers; keep our own copy while it waits in the shuffle buffer.
      const copy = { x: Float32Array.from(sample.x), y: sample.y };
      if (!shuffle) {
        yield* emit(copy);
        continue;
      }
      if (buffer.length < options.shuffleBuffer) {
        buffer.push(copy);
        continue;
      }
      const j = rng.int(buffer.length);
      const out = buffer[j];
      buffer[j] = copy;
      yield* emit(out);
    }
    while (buffer.length > 0) {
      const j = rng.int(buffer.length);
      const out = buffer[j];
      buffer[j] = buffer[buffer.length - 1];
      buffer.pop();
      yield* emit(out);
    }
  }
  if (batch.length > 0) yield batch;
}

/** A batch's features and labels in flat arrays; `reuse` is filled in place when its size fits. */
function flattenBatch(batch: Sample[], size: number, reuse?: { x: Float32Array; y: Float32Array }): { x: Float32Array; y: Float32Array } {
  const fits = reuse && reuse.y.length === batch.length && reuse.x.length === batch.length * size;
  const x = fits ? reuse.x : new Float32Array(batch.length * size);
  const y = fits ? reuse.y : new Float32Array(batch.length);
  batch.forEach((s, i) => {
    x.set(s.x, i * size);
    y[i] = s.y;
  });
  return { x, y };
}

function stackBatch(batch: Sample[], inputShape: number[]): { xs: tf.Tensor; ys: tf.Tensor1D } {
  const { x, y } = flattenBatch(batch, featureSize(inputShape));
  return { xs: tf.tensor(x, [batch.length, ...inputShape], "float32"), ys: tf.tensor1d(y, "float32") };
}

/** Sizes of the train and validation parts under a split, counted without reading the data. */
export function splitCounts(size: number, seed: number, valSplit: number): { train: number; val: number } {
  let val = 0;
  for (let i = 0; i < size; i++) if (isValidation(seed, i, valSplit)) val++;
  return { train: size - val, val };
}

export interface EvaluateOptions {
  batchSize?: number;
  /** Evaluate only the validation part of a split made with this seed and fraction. */
  split?: { seed: number; valSplit: number; part: "train" | "validation" };
}

export interface EvaluateResult {
  loss: number;
  accuracy?: number;
  count: number;
}

/** Loss (and accuracy for classifiers) of the model over a data set, streamed in batches. */
export async function evaluate(model: tf.LayersModel, data: DataSource, options: EvaluateOptions = {}): Promise<EvaluateResult> {
  const shape = describeModel(model);
  const split = options.split ?? { seed: 0, valSplit: 0, part: "train" as const };
  let lossSum = 0;
  let correctSum = 0;
  let count = 0;
  for await (const batch of batches(data, {
    batchSize: options.batchSize ?? 256,
    splitSeed: split.seed,
    shuffleSeed: 0,
    valSplit: split.valSplit,
    wantValidation: split.part === "validation",
    shuffle: false,
    shuffleBuffer: 0,
  })) {
    const [lossTensor, correctTensor] = tf.tidy(() => {
      const { xs, ys } = stackBatch(batch, shape.inputShape);
      const preds = model.predict(xs) as tf.Tensor;
      const out = lossAndCorrect(shape.task, preds, ys);
      return [out.loss, out.correct];
    });
    // Asynchronous reads: WebGPU in Node has no synchronous path (dataSync needs a browser canvas).
    const loss = (await lossTensor.data())[0];
    const correct = correctTensor ? (await correctTensor.data())[0] : NaN;
    lossTensor.dispose();
    correctTensor?.dispose();
    lossSum += loss * batch.length;
    correctSum += correct;
    count += batch.length;
  }
  if (count === 0) return { loss: NaN, count: 0 };
  const result: EvaluateResult = { loss: lossSum / count, count };
  if (shape.task.kind !== "regression") result.accuracy = correctSum / count;
  return result;
}

interface Checkpoint {
  state: CheckpointState;
  weights: WeightTensor[];
  /** The optimizer's slots, when the checkpoint holds them whole. */
  optimizerSlots?: { name: string; shape: number[]; data: Float32Array }[];
}

async function readCheckpoint(dir: string): Promise<Checkpoint | undefined> {
  const statePath = path.join(dir, "state.json");
  if (!fs.existsSync(statePath)) return undefined;
  const state = JSON.parse(await fs.promises.readFile(statePath, "utf8")) as CheckpointState;
  const model = await loadModelDir(path.join(dir, "model"));
  const weights = await getWeightTensors(model);
  model.dispose();
  const checkpoint: Checkpoint = { state, weights };
  const slotsPath = path.join(dir, "optimizer.bin");
  if (state.optimizer && fs.existsSync(slotsPath)) {
    const bytes = await fs.promises.readFile(slotsPath);
    const floats = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength - (bytes.byteLength % 4)));
    const sizes = state.optimizer.tensors.map((t) => t.shape.reduce((a, b) => a * b, 1));
    // A slot file that does not match its manifest is ignored: training resumes with fresh slots.
    if (sizes.reduce((a, b) => a + b, 0) === floats.length) {
      let at = 0;
      checkpoint.optimizerSlots = state.optimizer.tensors.map((t, i) => {
        const data = floats.slice(at, at + sizes[i]);
        at += sizes[i];
        return { name: t.name, shape: t.shape, data };
      });
    }
  }
  return checkpoint;
}

async function writeCheckpoint(dir: string, model: tf.LayersModel, state: CheckpointState, optimizer: tf.Optimizer, kind: OptimizerKind): Promise<void> {
  await saveModelDir(model, path.join(dir, "model"));
  const slots = await optimizer.getWeights();
  const manifest: { name: string; shape: number[] }[] = [];
  const parts: Float32Array[] = [];
  for (const slot of slots) {
    manifest.push({ name: slot.name, shape: [...slot.tensor.shape] });
    parts.push(Float32Array.from(await slot.tensor.data()));
  }
  const all = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  await fs.promises.writeFile(path.join(dir, "optimizer.bin"), new Uint8Array(all.buffer));
  state.optimizer = { kind, tensors: manifest };
  const statePath = path.join(dir, "state.json");
  await fs.promises.writeFile(statePath + ".tmp", JSON.stringify(state));
  await fs.promises.rename(statePath + ".tmp", statePath);
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
  let startEpoch = 0;
  let skipBatches = 0;
  const history: EpochMetrics[] = [];
  let resumedSlots: Checkpoint["optimizerSlots"];
  let resumedKind: OptimizerKind | undefined;
  if (options.resume) {
    if (!options.checkpointDir) throw new UserError("Resume needs a checkpoint folder.", { code: "RESUME_NO_CHECKPOINT" });
    const checkpoint = await readCheckpoint(options.checkpointDir);
    if (!checkpoint) throw new UserError(`No checkpoint in ${options.checkpointDir}.`, { code: "RESUME_NO_CHECKPOINT" });
    setWeightTensors(model, checkpoint.weights);
    startEpoch = checkpoint.state.epoch;
    skipBatches = checkpoint.state.batch;
    history.push(...checkpoint.state.epochs);
    resumedSlots = checkpoint.optimizerSlots;
    resumedKind = checkpoint.state.optimizer?.kind;
  }

  const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const proxTargets = mu > 0 ? tf.tidy(() => trainable.map((v) => tf.clone(v))) : [];
  proxTargets.forEach((t) => tf.keep(t));
  const optimizerKind = options.optimizer ?? "sgd";
  const optimizer = createOptimizer(optimizerKind, lr);
  if (resumedSlots && resumedKind === optimizerKind) {
    // Adam's moments and step count carry over, so a resumed run takes the steps it would have taken.
    const named = resumedSlots.map((s) => ({ name: s.name, tensor: tf.tensor(s.data, s.shape, "float32") }));
    await optimizer.setWeights(named);
    named.forEach((n) => n.tensor.dispose());
  }
  // Plain Sequential classifiers on wasm take the hand-written step; anything else tfjs's generic one.
  const handWritten = planSequentialStep(model, shape.task);
  let batchArrays: { x: Float32Array; y: Float32Array } | undefined;
  let stopped = false;
  let epoch = startEpoch;
  try {
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
        let correctTensor: tf.Scalar | undefined;
        let lossValue: number;
        if (handWritten) {
          const arrays = flattenBatch(batch, featureSize(shape.inputShape), batchArrays);
          batchArrays = arrays;
          [lossValue, correctSum] = tf.tidy(() => {
            const xs = tf.tensor(arrays.x, [batch.length, ...shape.inputShape], "float32");
            const out = handWritten.gradients(xs, arrays.y);
            let loss = out.loss;
            if (mu > 0) {
              const gaps = trainable.map((v, i) => tf.sub(v, proxTargets[i]));
              loss += (mu / 2) * tf.addN(gaps.map((g) => tf.sum(tf.square(g)))).dataSync()[0];
              trainable.forEach((v, i) => (out.grads[v.name] = tf.add(out.grads[v.name], tf.mul(gaps[i], mu))));
            }
            optimizer.applyGradients(Object.entries(out.grads).map(([name, tensor]) => ({ name, tensor })));
            return [loss, correctSum + out.correct];
          });
        } else {
          const lossTensor = tf.tidy(() => {
            const { xs, ys } = stackBatch(batch, shape.inputShape);
            const loss = optimizer.minimize(
              () => {
                const preds = model.apply(xs, { training: true }) as tf.Tensor;
                const out = lossAndCorrect(shape.task, preds, ys);
                if (out.correct) correctTensor = tf.keep(out.correct);
                if (mu === 0) return out.loss;
                const prox = tf.addN(trainable.map((v, i) => tf.sum(tf.square(tf.sub(v, proxTargets[i])))));
                return tf.add(out.loss, tf.mul(mu / 2, prox)) as tf.Scalar;
              },
              true,
              trainable,
            );
            return loss!;
          });
          lossValue = (await lossTensor.data())[0];
          lossTensor.dispose();
        }
        if (correctTensor) {
          correctSum += (await correctTensor.data())[0];
          correctTensor.dispose();
        }
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
    optimizer.dispose();
    proxTargets.forEach((t) => t.dispose());
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
  };
}
