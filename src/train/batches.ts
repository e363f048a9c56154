/**
 * Batches for training and evaluation: a seeded hash decides which samples are held out for
 * validation (fixed for a run), a seeded shuffle (new each epoch) decides their order; data that
 * streams from disk is shuffled through a bounded buffer instead of a full permutation.
 */
import * as tf from "@tensorflow/tfjs";
import { featureSize, type DataSource, type Sample } from "./data/source.js";
import { createRng, hashUnit, permutation } from "./rng.js";

export function isValidation(seed: number, index: number, valSplit: number): boolean {
  return valSplit > 0 && hashUnit(seed, index) < valSplit;
}

export interface BatchOptions {
  batchSize: number;
  /** Fixed for a run: decides which samples are held out. */
  splitSeed: number;
  /** Changes every epoch: the order. */
  shuffleSeed: number;
  valSplit: number;
  wantValidation: boolean;
  shuffle: boolean;
  shuffleBuffer: number;
}

/** Streams batches of training (or validation) samples in a seeded order for one epoch. */
export async function* batches(
  data: DataSource,
  options: BatchOptions,
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
export function flattenBatch(batch: Sample[], size: number, reuse?: { x: Float32Array; y: Float32Array }): { x: Float32Array; y: Float32Array } {
  const fits = reuse && reuse.y.length === batch.length && reuse.x.length === batch.length * size;
  const x = fits ? reuse.x : new Float32Array(batch.length * size);
  const y = fits ? reuse.y : new Float32Array(batch.length);
  batch.forEach((s, i) => {
    x.set(s.x, i * size);
    y[i] = s.y;
  });
  return { x, y };
}

export function stackBatch(batch: Sample[], inputShape: number[]): { xs: tf.Tensor; ys: tf.Tensor1D } {
  const { x, y } = flattenBatch(batch, featureSize(inputShape));
  return { xs: tf.tensor(x, [batch.length, ...inputShape], "float32"), ys: tf.tensor1d(y, "float32") };
}

/** Sizes of the train and validation parts under a split, counted without reading the data. */
export function splitCounts(size: number, seed: number, valSplit: number): { train: number; val: number } {
  let val = 0;
  for (let i = 0; i < size; i++) if (isValidation(seed, i, valSplit)) val++;
  return { train: size - val, val };
}
