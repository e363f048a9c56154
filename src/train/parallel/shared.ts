/**
 * The flat shared-memory side of the parallel step, run alike by the main thread and each worker:
 * gradients written scaled by their shard's rows, the weights copied into a replica's variables,
 * and the reduce-and-update of one slice of the weights (each thread takes a slice, so no thread
 * sums or updates all 1.1M weights alone).
 */
import * as tf from "@tensorflow/tfjs";
import type { SequentialStep } from "../sequentialStep.js";
import { sgdStepOnHeap } from "../wasmHeapKernels.js";

interface WasmHeapBackend {
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/** A float32 tensor's data, read in place on the wasm heap (no copy; valid until the next allocation). */
function heapView(t: tf.Tensor): Float32Array {
  if (tf.getBackend() !== "wasm" || t.dtype !== "float32") return t.dataSync() as Float32Array;
  return (tf.backend() as unknown as WasmHeapBackend).typedArrayFromHeap(t) as Float32Array;
}

/**
 * Copies the gradients into `out`, flat, in the given order (a plain copy: the reduce scales each
 * thread's by its rows); disposes them.
 */
export function writeGradients(grads: tf.Tensor[], out: Float32Array): void {
  let at = 0;
  for (const g of grads) {
    out.set(heapView(g), at);
    at += g.size;
    g.dispose();
  }
}

/**
 * One shard's gradients on this thread's replica, in `variables`' order (the caller writes and
 * disposes them), with the shard's summed loss and correct count.
 */
export function shardGradients(step: SequentialStep, variables: tf.Variable[], inputShape: number[], x: Float32Array, y: Float32Array): { grads: tf.Tensor[]; lossSum: number; correct: number } {
  const rows = y.length;
  let lossSum = 0;
  let correct = 0;
  const grads = tf.tidy(() => {
    const out = step.gradients(tf.tensor(x, [rows, ...inputShape], "float32"), y);
    lossSum = out.loss * rows;
    correct = out.correct;
    return variables.map((v) => out.grads[v.name]);
  });
  return { grads, lossSum, correct };
}

/**
 * One shard's mean gradients written flat into `out` (in `variables`' order), computed in
 * micro-batches of at most `microBatch` rows (0: the whole shard at once) whose mean gradients
 * are summed weighted by their rows: the shard's mean up to float rounding, with working sets
 * (activations, the packed conv operands) that shrink with the micro-batch.
 */
export function shardGradientsInto(step: SequentialStep, variables: tf.Variable[], inputShape: number[], x: Float32Array, y: Float32Array, microBatch: number, out: Float32Array): { lossSum: number; correct: number } {
  const rows = y.length;
  const chunk = microBatch > 0 ? Math.min(microBatch, rows) : rows;
  if (chunk >= rows) {
    const { grads, lossSum, correct } = shardGradients(step, variables, inputShape, x, y);
    writeGradients(grads, out);
    return { lossSum, correct };
  }
  const size = x.length / rows;
  let lossSum = 0;
  let correct = 0;
  for (let from = 0; from < rows; from += chunk) {
    const to = Math.min(rows, from + chunk);
    const part = shardGradients(step, variables, inputShape, x.subarray(from * size, to * size), y.subarray(from, to));
    lossSum += part.lossSum;
    correct += part.correct;
    const share = (to - from) / rows;
    let at = 0;
    for (const g of part.grads) {
      const v = heapView(g);
      if (from === 0) for (let j = 0; j < v.length; j++) out[at + j] = v[j] * share;
      else for (let j = 0; j < v.length; j++) out[at + j] += v[j] * share;
      at += g.size;
      g.dispose();
    }
  }
  return { lossSum, correct };
}

/**
 * Gives each variable its part of the flat `weights`. A new tensor each time, never a write into
 * the old one's memory: wasm caches XNNPACK operators (with packed weights) by tensor id.
 */
export function assignWeights(variables: tf.Variable[], weights: Float32Array): void {
  let at = 0;
  tf.tidy(() => {
    for (const v of variables) {
      v.assign(tf.tensor(weights.subarray(at, at + v.size), v.shape, "float32"));
      at += v.size;
    }
  });
}

/** Copies the variables' values into the flat `weights`. */
export function readWeights(variables: tf.Tensor[], weights: Float32Array): void {
  let at = 0;
  for (const v of variables) {
    weights.set(heapView(v), at);
    at += v.size;
  }
}

/** The buffers every thread sees: weights, each thread's shard-mean gradients (main's first) in two slots, FedProx targets, the step signal. */
export interface SharedFloats {
  weights: Float32Array;
  /** [slot][thread]: steps alternate between the slots (see WorkerSetup.grads). */
  grads: [Float32Array[], Float32Array[]];
  targets: Float32Array;
  /** [0] the last step whose main-thread gradients are written; [1] 1 once the workers are being stopped. */
  sync: Int32Array;
}

/** The main thread: its gradients of `step` are written. */
export function signalGradients(sync: Int32Array, step: number): void {
  Atomics.store(sync, 0, step);
  Atomics.notify(sync, 0);
}

/** A worker: waits until the main thread's gradients of `step` are written; throws if the workers are being stopped. */
export function awaitGradients(sync: Int32Array, step: number): void {
  for (;;) {
    const seen = Atomics.load(sync, 0);
    if (seen >= step) return;
    if (Atomics.load(sync, 1) !== 0) throw new Error("the parallel training step stopped before its gradients were complete");
    Atomics.wait(sync, 0, seen, 100);
  }
}

/** Wakes any worker waiting for gradients and tells it the step was abandoned. */
export function abandonSteps(sync: Int32Array): void {
  Atomics.store(sync, 1, 1);
  Atomics.notify(sync, 0);
}

/** Each thread's weight in the batch mean (rows / the batch's rows; a thread without rows: 0, its buffer is stale). */
function shares(rows: number[]): number[] {
  const total = rows.reduce((a, b) => a + b, 0);
  return rows.map((r) => r / total);
}

/**
 * One thread's slice [lo, hi) of the batch-mean gradient (Σ of every thread's shard-mean gradient
 * × its rows (`rows[k]`), / the batch's rows), written into grads[0], for an optimizer that runs on
 * the main thread.
 */
export function reduceSlice(grads: Float32Array[], rows: number[], lo: number, hi: number): void {
  const share = shares(rows);
  const g0 = grads[0];
  for (let j = lo; j < hi; j++) {
    let sum = g0[j] * share[0];
    for (let k = 1; k < grads.length; k++) if (share[k] > 0) sum += grads[k][j] * share[k];
    g0[j] = Math.fround(sum);
  }
}

/**
 * The step's SGD update applied to this thread's `variables`: the batch-mean gradient from every
 * thread's shard-mean gradient in shared memory (weighted by rows), plus μ·(w − target) with
 * FedProx, then w ← w − lr·g as tfjs's SGD computes it (sgdStepOnHeap). Every thread runs the same
 * arithmetic in the same order on the same inputs, so every replica gets the same weights bit for
 * bit without any weights crossing threads. Returns Σ (w − target)² before the update (0 without
 * μ), the FedProx term of the loss.
 */
export function applySgd(variables: tf.Variable[], grads: Float32Array[], rows: number[], lr: number, mu: number, targets: tf.Tensor[] | undefined): number {
  const share = shares(rows);
  if (!share.some((s) => s > 0)) throw new Error("an SGD step without any rows");
  let proxSum = 0;
  let at = 0;
  variables.forEach((v, i) => {
    const parts = grads.map((g) => g.subarray(at, at + v.size));
    const { next, proxSum: part } = sgdStepOnHeap(v, parts, share, lr, mu, mu > 0 ? targets?.[i] : undefined);
    v.assign(next);
    next.dispose();
    proxSum += part;
    at += v.size;
  });
  return proxSum;
}

/** Contiguous ranges splitting `total` into `parts`, sizes differing by at most one. */
export function ranges(total: number, parts: number): [number, number][] {
  const out: [number, number][] = [];
  let at = 0;
  for (let k = 0; k < parts; k++) {
    const size = Math.floor(total / parts) + (k < total % parts ? 1 : 0);
    out.push([at, at + size]);
    at += size;
  }
  return out;
}
