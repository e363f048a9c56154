/**
 * The flat shared-memory side of the parallel step, run alike by the main thread and each worker:
 * gradients written scaled by their shard's rows, the weights copied into a replica's variables,
 * and the reduce-and-update of one slice of the weights (each thread takes a slice, so no thread
 * sums or updates all 1.1M weights alone).
 */
import * as tf from "@tensorflow/tfjs";
import type { SequentialStep } from "../sequentialStep.js";
import { simdKernels } from "../simdKernels.js";

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

/** The buffers every thread sees: weights, each thread's shard-mean gradients (main's first), FedProx targets. */
export interface SharedFloats {
  weights: Float32Array;
  grads: Float32Array[];
  targets: Float32Array;
  /** The shared wasm memory the arrays are views of, when they are (the SIMD update runs on it). */
  memory?: WebAssembly.Memory;
}

/** Bytes per wasm page, and the most pages a (32-bit) wasm memory can have. */
const PAGE = 65536;
const MAX_PAGES = 65536;

/** Each array's offset in the shared memory: weights, targets, then each thread's gradients, 16-byte aligned. */
function layout(total: number, threads: number): { offsets: number[]; bytes: number } {
  const stride = Math.ceil((total * 4) / 16) * 16;
  return { offsets: Array.from({ length: threads + 2 }, (_, i) => i * stride), bytes: (threads + 2) * stride };
}

/**
 * The shared buffers for `total` weights and `threads` threads: views of one shared wasm memory
 * where they fit in one (4 GiB), so the update runs as SIMD wasm; else plain SharedArrayBuffers.
 */
export function allocateSharedFloats(total: number, threads: number): SharedFloats {
  const { bytes } = layout(total, threads);
  const pages = Math.max(1, Math.ceil(bytes / PAGE));
  if (pages <= MAX_PAGES) {
    try {
      return sharedFloatsIn(new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }), total, threads);
    } catch {
      // No shared wasm memory of that size here: plain shared buffers, and the JavaScript update.
    }
  }
  const shared = (): Float32Array => new Float32Array(new SharedArrayBuffer(total * 4));
  return { weights: shared(), targets: shared(), grads: Array.from({ length: threads }, shared) };
}

/** The views `allocateSharedFloats` made, over the same memory (a worker's side). */
export function sharedFloatsIn(memory: WebAssembly.Memory, total: number, threads: number): SharedFloats {
  const { offsets, bytes } = layout(total, threads);
  if (memory.buffer.byteLength < bytes) throw new Error(`the shared memory holds ${memory.buffer.byteLength} bytes, not the ${bytes} its layout needs`);
  const view = (i: number): Float32Array => new Float32Array(memory.buffer, offsets[i], total);
  return { weights: view(0), targets: view(1), grads: Array.from({ length: threads }, (_, k) => view(k + 2)), memory };
}

/**
 * One thread's slice [lo, hi) of the step's update. "sgd": the batch-mean gradient (Σ of every
 * thread's shard-mean gradient × its rows (`rows[k]`), / the batch's rows), plus μ·(w − w_global) with FedProx, and w ← w − lr·g,
 * in float32 as tfjs's SGD computes it. "mean": only the batch-mean gradient, into grads[0] (the
 * main thread then runs its optimizer). Returns Σ (w − w_global)² over the slice (0 without μ),
 * for the FedProx term of the loss, taken before the update.
 */
export function updateSlice(buffers: SharedFloats, mode: "sgd" | "mean", rows: number[], lr: number, mu: number, lo: number, hi: number): number {
  const { weights: w, grads, targets } = buffers;
  const f = Math.fround;
  const n = grads.length;
  const total = rows.reduce((a, b) => a + b, 0);
  // Each thread's weight in the batch mean; a thread without rows adds nothing (its buffer is stale).
  const share = rows.map((r) => r / total);
  const [g0, g1] = grads;
  const [s0, s1] = share;
  const step = f(-lr);
  const mu32 = f(mu);
  let proxSum = 0;
  // Two threads with rows, plain SGD: SIMD wasm over the slice's multiple of 4, this loop for the rest.
  const simd = n === 2 && mode === "sgd" && !(mu > 0) && s1 > 0 && buffers.memory ? simdKernels(buffers.memory) : undefined;
  if (simd) {
    const count = (hi - lo) & ~3;
    simd.sgd2(w, g0, g1, lo, count, s0, s1, step);
    lo += count;
  }
  for (let j = lo; j < hi; j++) {
    // Two threads (the common case) without the inner loop.
    let sum = n === 2 ? g0[j] * s0 + (s1 > 0 ? g1[j] * s1 : 0) : g0[j] * s0;
    if (n > 2) for (let k = 1; k < n; k++) if (share[k] > 0) sum += grads[k][j] * share[k];
    let g = f(sum);
    if (mode === "mean") {
      g0[j] = g;
      continue;
    }
    if (mu > 0) {
      const gap = f(w[j] - targets[j]);
      proxSum += gap * gap;
      g = f(g + f(gap * mu32));
    }
    w[j] = f(step * g) + w[j];
  }
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
