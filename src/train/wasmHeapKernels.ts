/**
 * The small pieces of a training step that wasm runs as many tiny ops (loss and its gradient,
 * ReLU and max-pool backprops, bias gradients, transposes), computed here in one plain
 * JavaScript pass each, straight on the wasm heap: no copies, no engine round trips.
 *
 * Every function writes a fresh output buffer and never an input's: wasm caches XNNPACK
 * operators (with their packed weights) by tensor id, so a buffer must not change under its id.
 * Outputs are ordinary tensors tracked by the engine (tidy disposes them). Views of the heap are
 * taken after the last allocation, because an allocation may grow (and so detach) the heap.
 */
import * as tf from "@tensorflow/tfjs";
import { simdKernels, type SimdKernels } from "./simdKernels.js";

interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  wasm?: { asm?: { memory?: unknown } };
}

/** The SIMD kernels on the wasm backend's heap, where its memory is reachable (tfjs's emscripten module exports it). */
function heapSimd(backend: WasmHeapBackend): SimdKernels | undefined {
  const memory = backend.wasm?.asm?.memory;
  return memory instanceof WebAssembly.Memory ? simdKernels(memory) : undefined;
}

function heapBackend(): WasmHeapBackend {
  if (tf.getBackend() !== "wasm") throw new Error(`wasm heap kernels need the wasm backend, not ${tf.getBackend()}`);
  return tf.backend() as unknown as WasmHeapBackend;
}

/** A new float32 tensor on the wasm heap, contents unspecified. */
function allocate(backend: WasmHeapBackend, shape: number[]): tf.Tensor {
  return tf.engine().makeTensorFromTensorInfo(backend.makeOutput(shape, "float32"));
}

function floats(backend: WasmHeapBackend, t: tf.TensorInfo): Float32Array {
  if (t.dtype !== "float32") throw new Error(`wasm heap kernels take float32 tensors, got ${t.dtype}`);
  return backend.typedArrayFromHeap(t) as Float32Array;
}

export interface SoftmaxCrossEntropyResult {
  /** Mean cross-entropy over the batch. */
  loss: number;
  /** Samples whose largest output is the label's. */
  correct: number;
  /** d loss / d logits, [batch, classes]. */
  dLogits: tf.Tensor2D;
}

/**
 * Mean softmax cross-entropy of integer labels, from the logits (log-sum-exp, so a label whose
 * probability underflows still has a finite loss), and its gradient d = (p − onehot)/B in one
 * pass. A model that ends in a softmax gets the same: its step hands over the pre-softmax
 * logits. No row's gradient is ever cut off, so a model saturated on one class still learns.
 * `batch` is the divisor B (the whole batch's size when this is one shard of it); accuracy
 * counts the first largest output.
 */
export function softmaxCrossEntropyBackward(logits: tf.Tensor2D, labels: ArrayLike<number>, batch = logits.shape[0]): SoftmaxCrossEntropyResult {
  const backend = heapBackend();
  const [rows, classes] = logits.shape;
  const dLogits = allocate(backend, [rows, classes]) as tf.Tensor2D;
  const z = floats(backend, logits);
  const d = floats(backend, dLogits);
  const p = new Float64Array(classes);
  let lossSum = 0;
  let correct = 0;
  for (let b = 0, row = 0; b < rows; b++, row += classes) {
    const label = labels[b];
    let max = -Infinity;
    let best = 0;
    for (let c = 0; c < classes; c++) {
      if (z[row + c] > max) {
        max = z[row + c];
        best = c;
      }
    }
    if (best === label) correct++;
    let sum = 0;
    for (let c = 0; c < classes; c++) {
      p[c] = Math.exp(z[row + c] - max);
      sum += p[c];
    }
    // NaN logits give a NaN loss: the caller stops on it.
    lossSum += Math.log(sum) + max - z[row + label];
    for (let c = 0; c < classes; c++) d[row + c] = (p[c] / sum - (c === label ? 1 : 0)) / batch;
  }
  return { loss: lossSum / batch, correct, dLogits };
}

/** dz = dy where the ReLU's output y is positive, else 0 (TensorFlow's step(x)·dy). */
export function reluBackward(dy: tf.Tensor, y: tf.Tensor): tf.Tensor {
  const backend = heapBackend();
  const out = allocate(backend, [...dy.shape]);
  const g = floats(backend, dy);
  const a = floats(backend, y);
  const o = floats(backend, out);
  for (let i = 0; i < o.length; i++) o[i] = a[i] > 0 ? g[i] : 0;
  return out;
}

/** Σ over every axis but the last: a bias's gradient. */
export function channelSums(t: tf.Tensor): tf.Tensor1D {
  const backend = heapBackend();
  const channels = t.shape[t.shape.length - 1];
  const out = allocate(backend, [channels]) as tf.Tensor1D;
  const x = floats(backend, t);
  const o = floats(backend, out);
  // One channel at a time, four rows per iteration: independent sums in registers instead of
  // one read-modify-write chain per channel through memory.
  const step = 4 * channels;
  for (let c = 0; c < channels; c++) {
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let i = c;
    for (const end = x.length - 3 * channels; i < end; i += step) {
      s0 += x[i];
      s1 += x[i + channels];
      s2 += x[i + 2 * channels];
      s3 += x[i + 3 * channels];
    }
    for (; i < x.length; i += channels) s0 += x[i];
    o[c] = s0 + s1 + s2 + s3;
  }
  return out;
}

/**
 * A filter [FH, FW, A, B] turned 180° in space, out[FH−1−i, FW−1−j] = w[i, j]; with `swap` its two
 * channel axes swap too ([FH, FW, B, A]): the filter of a convolution's input gradient, in one pass.
 * wasm's Reverse is a generic strided loop: with the Transpose after it, 2.9 ms for the CIFAR-sized
 * CNN's 3×3×64×64 filter, every step of every thread; this pass, 0.23 ms.
 */
export function flippedFilter(filter: tf.Tensor4D, swap: boolean): tf.Tensor4D {
  const backend = heapBackend();
  const [fh, fw, a, b] = filter.shape;
  const out = allocate(backend, swap ? [fh, fw, b, a] : [fh, fw, a, b]) as tf.Tensor4D;
  const w = floats(backend, filter);
  const o = floats(backend, out);
  const taps = fh * fw;
  const plane = a * b;
  for (let t = 0; t < taps; t++) {
    const from = t * plane;
    const to = (taps - 1 - t) * plane;
    if (!swap) {
      o.set(w.subarray(from, from + plane), to);
      continue;
    }
    for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) o[to + j * a + i] = w[from + i * b + j];
  }
  return out;
}

/** xᵀ of a 2-D tensor (wasm's matmul takes transposed operands only on a slow scalar path). */
export function transpose2d(t: tf.Tensor2D): tf.Tensor2D {
  const backend = heapBackend();
  const [rows, cols] = t.shape;
  const out = allocate(backend, [cols, rows]) as tf.Tensor2D;
  const x = floats(backend, t);
  const o = floats(backend, out);
  const simd = rows % 4 === 0 && cols % 4 === 0 ? heapSimd(backend) : undefined;
  if (simd) {
    simd.transpose(x, o, rows, cols);
    return out;
  }
  // Blocks of rows keep the scattered writes within a few cache lines.
  const block = 16;
  for (let r0 = 0; r0 < rows; r0 += block) {
    const r1 = Math.min(rows, r0 + block);
    for (let c = 0; c < cols; c++) {
      for (let r = r0; r < r1; r++) o[c * rows + r] = x[r * cols + c];
    }
  }
  return out;
}

/**
 * Max-pool backprop: each dy goes to the first maximum of its window (row-major order, as the
 * plain JS backend picks it); overlapping windows add up. With `reluBefore` the pooled input is
 * a ReLU's output and the ReLU's backprop is folded in: a window whose maximum is not positive
 * passes nothing, which is exactly step(x)·dx at the chosen pixel.
 */
export function maxPoolBackward(dy: tf.Tensor4D, x: tf.Tensor4D, y: tf.Tensor4D, info: tf.backend_util.Conv2DInfo, reluBefore: boolean): tf.Tensor4D {
  const backend = heapBackend();
  const out = allocate(backend, [...x.shape]) as tf.Tensor4D;
  maxPoolBackwardInto(floats(backend, x), floats(backend, y), floats(backend, dy), floats(backend, out), info, reluBefore);
  return out;
}

/** The loop behind maxPoolBackward, on plain arrays (dx is overwritten). */
export function maxPoolBackwardInto(
  x: Float32Array,
  y: Float32Array,
  g: Float32Array,
  dx: Float32Array,
  info: tf.backend_util.Conv2DInfo,
  reluBefore: boolean,
): void {
  dx.fill(0);
  const { batchSize, inHeight, inWidth, inChannels: c, outHeight, outWidth, strideHeight, strideWidth } = info;
  const fh = info.effectiveFilterHeight;
  const fw = info.effectiveFilterWidth;
  const { top, left } = info.padInfo;
  // The smallest maximum that passes a gradient: any value but −∞, or only positive ones after a ReLU.
  const floor = reluBefore ? 0 : Number.NEGATIVE_INFINITY;
  const row = inWidth * c;
  let o = 0;
  for (let b = 0; b < batchSize; b++) {
    const xb = b * inHeight * row;
    for (let yr = 0; yr < outHeight; yr++) {
      const r0 = yr * strideHeight - top;
      const rMin = Math.max(0, r0);
      const rMax = Math.min(inHeight, r0 + fh);
      for (let yc = 0; yc < outWidth; yc++) {
        const c0 = yc * strideWidth - left;
        const cMin = Math.max(0, c0);
        const cMax = Math.min(inWidth, c0 + fw);
        const corner = xb + rMin * row + cMin * c;
        if (rMax - rMin === 2 && cMax - cMin === 2) {
          // The common 2×2 window, unrolled and without data-dependent branches (which pixel holds
          // the maximum, and whether it passes, are coin flips the branch predictor loses).
          for (let d = 0; d < c; d++, o++) {
            const m = y[o];
            const i0 = corner + d;
            const past0 = +(x[i0] !== m);
            const past1 = past0 & +(x[i0 + c] !== m);
            const past2 = past1 & +(x[i0 + row] !== m);
            const missing = past2 & +(x[i0 + row + c] !== m);
            if (missing === 1) {
              scatterToFirstMax(x, dx, g[o], i0, 2, 2, row, c, floor);
              continue;
            }
            const at = i0 + past0 * c + past1 * (row - c) + past2 * c;
            // A blocked window adds 0·dy: nothing, for the finite dy of any run that has not diverged.
            dx[at] += +(m > floor) * g[o];
          }
          continue;
        }
        for (let d = 0; d < c; d++, o++) {
          const m = y[o];
          let at = -1;
          for (let r = 0, i = corner + d; r < rMax - rMin && at < 0; r++, i += row) {
            for (let k = 0, j = i; k < cMax - cMin; k++, j += c) {
              if (x[j] === m) {
                at = j;
                break;
              }
            }
          }
          if (at >= 0) {
            if (m > floor) dx[at] += g[o];
          } else scatterToFirstMax(x, dx, g[o], corner + d, rMax - rMin, cMax - cMin, row, c, floor);
        }
      }
    }
  }
}

/**
 * The slow path for a window holding no pixel equal to the forward maximum (NaN in the window):
 * the plain JS backend's rule, the first pixel strictly greater than all before it.
 */
function scatterToFirstMax(x: Float32Array, dx: Float32Array, grad: number, corner: number, rows: number, cols: number, row: number, c: number, floor: number): void {
  let best = Number.NEGATIVE_INFINITY;
  let at = -1;
  for (let r = 0, i = corner; r < rows; r++, i += row) {
    for (let k = 0, j = i; k < cols; k++, j += c) {
      if (x[j] > best) {
        best = x[j];
        at = j;
      }
    }
  }
  if (at >= 0 && best > floor) dx[at] += grad;
}

export interface ConvParamGrads {
  dW: tf.Tensor4D;
  db: tf.Tensor1D;
}

/**
 * Backprop through Conv2D → (ReLU) → MaxPool for the network's first weighted layer, whose input
 * gradient nobody needs: dW and db come straight from the pooled gradient. Each pooled dy reaches
 * one pixel of the conv's output (the window's first maximum; none after a ReLU when that maximum
 * is not positive), so the conv's full output gradient — mostly zeros — is never formed, and dW
 * costs one fh·fw·cin multiply-add per routed dy instead of a dense correlation.
 */
export function convGradsThroughMaxPool(
  convInput: tf.Tensor4D,
  convOutput: tf.Tensor4D,
  pooled: tf.Tensor4D,
  dPooled: tf.Tensor4D,
  conv: tf.backend_util.Conv2DInfo,
  pool: tf.backend_util.Conv2DInfo,
  reluBefore: boolean,
): ConvParamGrads {
  const backend = heapBackend();
  const dW = allocate(backend, [conv.filterHeight, conv.filterWidth, conv.inChannels, conv.outChannels]) as tf.Tensor4D;
  const db = allocate(backend, [conv.outChannels]) as tf.Tensor1D;
  const { top, left, bottom, right } = conv.padInfo;
  const image = padded(floats(backend, convInput), conv, top, left, bottom, right);
  const routed = routeToPatches(floats(backend, convOutput), floats(backend, pooled), floats(backend, dPooled), pool, conv, top + bottom + conv.inHeight, left + right + conv.inWidth, reluBefore);
  const { dWeights, dBias } = accumulatePatches(image, routed, conv, left + right + conv.inWidth);
  floats(backend, dW).set(dWeights);
  floats(backend, db).set(dBias);
  return { dW, db };
}

/** The conv's input with its zero padding made explicit (the input itself when there is none). */
function padded(x: Float32Array, conv: tf.backend_util.Conv2DInfo, top: number, left: number, bottom: number, right: number): Float32Array {
  if (top === 0 && left === 0 && bottom === 0 && right === 0) return x;
  const { batchSize, inHeight, inWidth, inChannels: c } = conv;
  const h = inHeight + top + bottom;
  const w = inWidth + left + right;
  const out = new Float32Array(batchSize * h * w * c);
  for (let b = 0; b < batchSize; b++) {
    for (let r = 0; r < inHeight; r++) {
      const from = ((b * inHeight + r) * inWidth) * c;
      out.set(x.subarray(from, from + inWidth * c), ((b * h + r + top) * w + left) * c);
    }
  }
  return out;
}

let scratch: { patch: Int32Array; grad: Float32Array } | undefined;

/**
 * Buffers for routed gradients, kept from call to call: allocating (and zeroing) fresh ones
 * each step costs as much as the routing itself. Contents are unspecified.
 */
function routingScratch(size: number): { patch: Int32Array; grad: Float32Array } {
  if (!scratch || scratch.patch.length < size) scratch = { patch: new Int32Array(size), grad: new Float32Array(size) };
  return scratch;
}

interface RoutedGradients {
  /** Per output channel d, entries d·capacity … d·capacity + counts[d] − 1. */
  capacity: number;
  counts: Int32Array;
  /** Where the receiving conv output pixel's receptive field starts in the padded input. */
  patch: Int32Array;
  grad: Float32Array;
}

/**
 * Max-pool routing as in maxPoolBackwardInto, but each routed dy is recorded (per channel) with
 * the start of the receptive field of the conv output pixel it lands on.
 */
function routeToPatches(
  x: Float32Array,
  y: Float32Array,
  g: Float32Array,
  pool: tf.backend_util.Conv2DInfo,
  conv: tf.backend_util.Conv2DInfo,
  paddedHeight: number,
  paddedWidth: number,
  reluBefore: boolean,
): RoutedGradients {
  const { batchSize, inHeight, inWidth, inChannels: c, outHeight, outWidth, strideHeight, strideWidth } = pool;
  const fh = pool.effectiveFilterHeight;
  const fw = pool.effectiveFilterWidth;
  const { top, left } = pool.padInfo;
  const floor = reluBefore ? 0 : Number.NEGATIVE_INFINITY;
  const capacity = batchSize * outHeight * outWidth;
  const counts = new Int32Array(c);
  const { patch, grad } = routingScratch(capacity * c);
  const row = inWidth * c;
  const cin = conv.inChannels;
  // Moving one conv output pixel down or right moves its receptive field by a stride.
  const patchDown = conv.strideHeight * paddedWidth * cin;
  const patchRight = conv.strideWidth * cin;
  let o = 0;
  for (let b = 0; b < batchSize; b++) {
    const xb = b * inHeight * row;
    const pb = b * paddedHeight * paddedWidth * cin;
    for (let yr = 0; yr < outHeight; yr++) {
      const r0 = yr * strideHeight - top;
      const rMin = Math.max(0, r0);
      const rows = Math.min(inHeight, r0 + fh) - rMin;
      for (let yc = 0; yc < outWidth; yc++) {
        const c0 = yc * strideWidth - left;
        const cMin = Math.max(0, c0);
        const cols = Math.min(inWidth, c0 + fw) - cMin;
        const corner = xb + rMin * row + cMin * c;
        const patchCorner = pb + rMin * patchDown + cMin * patchRight;
        if (rows === 2 && cols === 2) {
          // The common 2×2 window, unrolled and without data-dependent branches: every window
          // writes an entry, and the channel's count moves past it only when it is live.
          for (let d = 0; d < c; d++, o++) {
            const m = y[o];
            const i0 = corner + d;
            const past0 = +(x[i0] !== m);
            const past1 = past0 & +(x[i0 + c] !== m);
            const past2 = past1 & +(x[i0 + row] !== m);
            const found = 1 - (past2 & +(x[i0 + row + c] !== m));
            const n = d * capacity + counts[d];
            patch[n] = patchCorner + past0 * patchRight + past1 * (patchDown - patchRight) + past2 * patchRight;
            grad[n] = g[o];
            counts[d] += found & +(m > floor);
          }
          continue;
        }
        for (let d = 0; d < c; d++, o++) {
          const m = y[o];
          if (!(m > floor)) continue;
          // The window's first pixel equal to its maximum, as (row, column) within the window.
          let at = -1;
          for (let r = 0, i = corner + d; r < rows && at < 0; r++, i += row) {
            for (let k = 0, j = i; k < cols; k++, j += c) {
              if (x[j] === m) {
                at = r * cols + k;
                break;
              }
            }
          }
          if (at < 0) continue;
          const n = d * capacity + counts[d]++;
          const r = (at / cols) | 0;
          patch[n] = patchCorner + r * patchDown + (at - r * cols) * patchRight;
          grad[n] = g[o];
        }
      }
    }
  }
  return { capacity, counts, patch, grad };
}

/** dW[kh, kw, ci, d] = Σ grad · input[patch + (kh, kw, ci)] and db[d] = Σ grad, over each channel's routed entries. */
function accumulatePatches(image: Float32Array, routed: RoutedGradients, conv: tf.backend_util.Conv2DInfo, paddedWidth: number): { dWeights: Float64Array; dBias: Float64Array } {
  const { filterHeight: fh, filterWidth: fw, inChannels: cin, outChannels: cout } = conv;
  const taps = fh * fw * cin;
  const offsets = new Int32Array(taps);
  for (let kh = 0, t = 0; kh < fh; kh++) for (let kw = 0; kw < fw; kw++) for (let ci = 0; ci < cin; ci++, t++) offsets[t] = (kh * paddedWidth + kw) * cin + ci;
  const dWeights = new Float64Array(taps * cout);
  const dBias = new Float64Array(cout);
  const { capacity, counts, patch, grad } = routed;
  for (let d = 0; d < cout; d++) {
    const start = d * capacity;
    const end = start + counts[d];
    let bias = 0;
    for (let n = start; n < end; n++) bias += grad[n];
    dBias[d] = bias;
    // Nine taps at a time in local accumulators (a 3×3 one-channel filter in one pass); a group's
    // missing taps read tap 0 and are dropped.
    for (let t0 = 0; t0 < taps; t0 += 9) {
      const tap = (k: number): number => offsets[t0 + k < taps ? t0 + k : 0];
      const o0 = tap(0), o1 = tap(1), o2 = tap(2), o3 = tap(3), o4 = tap(4), o5 = tap(5), o6 = tap(6), o7 = tap(7), o8 = tap(8);
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0, a8 = 0;
      for (let n = start; n < end; n++) {
        const p = patch[n];
        const v = grad[n];
        a0 += v * image[p + o0];
        a1 += v * image[p + o1];
        a2 += v * image[p + o2];
        a3 += v * image[p + o3];
        a4 += v * image[p + o4];
        a5 += v * image[p + o5];
        a6 += v * image[p + o6];
        a7 += v * image[p + o7];
        a8 += v * image[p + o8];
      }
      const sums = [a0, a1, a2, a3, a4, a5, a6, a7, a8];
      for (let k = 0; k < 9 && t0 + k < taps; k++) dWeights[(t0 + k) * cout + d] = sums[k];
    }
  }
  return { dWeights, dBias };
}

export interface AdamConstants {
  beta1: number;
  beta2: number;
  /** 1 − β₁ᵗ and 1 − β₂ᵗ as float32, the bias corrections of this step. */
  oneMinusAccBeta1: number;
  oneMinusAccBeta2: number;
  epsilon: number;
  learningRate: number;
}

/**
 * One Adam update of a variable in one pass: the new first and second moments and the new value,
 * each operation rounded to float32 in the order tfjs's AdamOptimizer runs its ops, so the
 * results are the ones it computes.
 */
export function adamStep(value: tf.Tensor, grad: tf.Tensor, m: tf.Tensor, v: tf.Tensor, k: AdamConstants): { value: tf.Tensor; m: tf.Tensor; v: tf.Tensor } {
  const backend = heapBackend();
  const outValue = allocate(backend, [...value.shape]);
  const outM = allocate(backend, [...value.shape]);
  const outV = allocate(backend, [...value.shape]);
  const [x, g, m0, v0] = [value, grad, m, v].map((t) => floats(backend, t));
  const [x1, m1, v1] = [outValue, outM, outV].map((t) => floats(backend, t));
  const f = Math.fround;
  // The ops' scalar operands, as float32 tensors hold them.
  const beta1 = f(k.beta1);
  const beta2 = f(k.beta2);
  const oneMinusBeta1 = f(1 - k.beta1);
  const oneMinusBeta2 = f(1 - k.beta2);
  const c1 = f(k.oneMinusAccBeta1);
  const c2 = f(k.oneMinusAccBeta2);
  const epsilon = f(k.epsilon);
  const step = f(-k.learningRate);
  for (let i = 0; i < x1.length; i++) {
    const gi = g[i];
    const mi = f(f(m0[i] * beta1) + f(gi * oneMinusBeta1));
    const vi = f(f(v0[i] * beta2) + f(f(gi * gi) * oneMinusBeta2));
    m1[i] = mi;
    v1[i] = vi;
    const denominator = f(f(Math.sqrt(f(vi / c2))) + epsilon);
    x1[i] = f(f(f(mi / c1) / denominator) * step) + x[i];
  }
  return { value: outValue, m: outM, v: outV };
}
