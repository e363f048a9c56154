/**
 * Training kernels the wasm backend lacks (Conv2DBackpropFilter, the depthwise backprops,
 * UnsortedSegmentSum, BroadcastTo, LogSoftmax), expressed through wasm's own fast ops (matmul,
 * conv, slices), so that convolutional and embedding models train on wasm. Two kernels wasm has
 * as slow scalar loops (Conv2DBackpropInput, MaxPoolGrad) are replaced by faster ones.
 *
 * A kernel here runs ops on the wasm backend inside the engine (nested kernels are not recorded
 * on the gradient tape). Its result is handed to the engine by keeping the backend buffer alive
 * (incRef) while the temporary tensor wrapping it is disposed.
 */
import * as tf from "@tensorflow/tfjs";
import { flippedFilter, maxPoolBackwardInto } from "./wasmHeapKernels.js";

type Attr = Record<string, unknown>;
type KernelArgs = { inputs: Record<string, tf.TensorInfo>; attrs?: Attr; backend: unknown };
type KernelFn = (args: KernelArgs) => tf.TensorInfo;
interface WasmBackendLike {
  incRef(dataId: object): void;
}

function asTensor(info: tf.TensorInfo): tf.Tensor {
  if (info instanceof tf.Tensor) return info;
  throw new Error("wasm training kernel received a TensorInfo that is not a Tensor");
}

/** Compute with ops, then hand the result buffer to the engine without leaking the wrapper tensor. */
function handOver(backend: unknown, compute: () => tf.Tensor): tf.TensorInfo {
  const result = tf.tidy(compute);
  (backend as WasmBackendLike).incRef(result.dataId);
  const info = { dataId: result.dataId, shape: [...result.shape], dtype: result.dtype };
  result.dispose();
  return info;
}

function pair(value: unknown): [number, number] {
  if (typeof value === "number") return [value, value];
  const list = value as number[];
  return [list[0], list[1]];
}

interface ConvGeometry {
  info: tf.backend_util.Conv2DInfo;
  strides: [number, number];
  dilations: [number, number];
}

function convGeometry(xShape: number[], filterShape: [number, number, number, number], attrs: Attr, depthwise: boolean): ConvGeometry {
  const strides = pair(attrs.strides);
  const dilations = pair(attrs.dilations ?? 1);
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape,
    strides,
    dilations,
    attrs.pad as "same" | "valid" | number,
    attrs.dimRoundingMode as "floor" | "round" | "ceil" | undefined,
    depthwise,
    "channelsLast",
  );
  return { info, strides, dilations };
}

/** The input padded as the forward conv saw it, covering every tap (kh, kw) at every output. */
function paddedInput(x: tf.Tensor4D, g: ConvGeometry, fh: number, fw: number): tf.Tensor4D {
  const { padInfo, outHeight, outWidth, inHeight, inWidth } = g.info;
  const needH = (outHeight - 1) * g.strides[0] + (fh - 1) * g.dilations[0] + 1;
  const needW = (outWidth - 1) * g.strides[1] + (fw - 1) * g.dilations[1] + 1;
  const bottom = Math.max(0, needH - inHeight - padInfo.top);
  const right = Math.max(0, needW - inWidth - padInfo.left);
  if (padInfo.top === 0 && padInfo.left === 0 && bottom === 0 && right === 0) return x;
  return tf.pad(x, [[0, 0], [padInfo.top, bottom], [padInfo.left, right], [0, 0]]);
}

/** The input rows that tap (kh, kw) multiplies, one per output position: [N, OH, OW, C]. */
function tap(xp: tf.Tensor4D, g: ConvGeometry, kh: number, kw: number): tf.Tensor4D {
  const { outHeight, outWidth } = g.info;
  const [n, , , c] = xp.shape;
  const top = kh * g.dilations[0];
  const left = kw * g.dilations[1];
  if (g.strides[0] === 1 && g.strides[1] === 1) {
    return tf.slice(xp, [0, top, left, 0], [n, outHeight, outWidth, c]);
  }
  return tf.stridedSlice(
    xp,
    [0, top, left, 0],
    [n, top + (outHeight - 1) * g.strides[0] + 1, left + (outWidth - 1) * g.strides[1] + 1, c],
    [1, g.strides[0], g.strides[1], 1],
  ) as tf.Tensor4D;
}

function toNhwc(t: tf.Tensor4D, attrs: Attr): tf.Tensor4D {
  return attrs.dataFormat === "NCHW" ? tf.transpose(t, [0, 2, 3, 1]) : t;
}

/** The backprop-input kernels' `inputShape` attribute, as NHWC. */
function nhwcInputShape(attrs: Attr): [number, number, number, number] {
  const shape = attrs.inputShape as [number, number, number, number];
  return attrs.dataFormat === "NCHW" ? [shape[0], shape[2], shape[3], shape[1]] : shape;
}

/** dy [N, OH, OW, C] dilated by the stride: zeros interleaved with reshape + pad, the trailing zeros trimmed. */
function dilateByStride(dy: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  const [sh, sw] = g.strides;
  if (sh === 1 && sw === 1) return dy;
  const [n, oh, ow, c] = dy.shape;
  const spaced = tf.pad(dy.reshape([n, oh, 1, ow, 1, c]), [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
  return tf.slice(spaced.reshape([n, oh * sh, ow * sw, c]), [0, 0, 0, 0], [n, (oh - 1) * sh + 1, (ow - 1) * sw + 1, c]) as tf.Tensor4D;
}

/** dW = im2col(x)ᵀ · dy: one matmul over all taps. */
function conv2DBackpropFilter(args: KernelArgs): tf.TensorInfo {
  const attrs = args.attrs ?? {};
  const filterShape = attrs.filterShape as [number, number, number, number];
  return handOver(args.backend, () => {
    const x = toNhwc(asTensor(args.inputs.x) as tf.Tensor4D, attrs);
    const dy = toNhwc(asTensor(args.inputs.dy) as tf.Tensor4D, attrs);
    const [fh, fw, cin, cout] = filterShape;
    const g = convGeometry(x.shape, filterShape, attrs, false);
    if (cin === 1 && g.dilations[0] === 1 && g.dilations[1] === 1) return backpropFilterOneChannel(x, dy, g, fh, fw);
    if (g.dilations[0] === 1 && g.dilations[1] === 1) return backpropFilterAsConv(x, dy, g, fh, fw);
    const xp = paddedInput(x, g, fh, fw);
    const taps: tf.Tensor4D[] = [];
    for (let kh = 0; kh < fh; kh++) for (let kw = 0; kw < fw; kw++) taps.push(tap(xp, g, kh, kw));
    const rows = x.shape[0] * g.info.outHeight * g.info.outWidth;
    const cols = (taps.length === 1 ? taps[0] : tf.concat(taps, 3)).reshape([rows, fh * fw * cin]);
    return tf.matMul(cols, dy.reshape([rows, cout]), true, false).reshape([fh, fw, cin, cout]);
  });
}

/**
 * dW for a one-channel input (a grayscale first layer): the taps stacked as rows, [fh·fw, N·OH·OW],
 * times dy, one plain matmul. As a convolution this would be a huge, thin filter that XNNPACK
 * packs anew at every step, and a transposed matmul takes wasm's slow path.
 */
function backpropFilterOneChannel(x: tf.Tensor4D, dy: tf.Tensor4D, g: ConvGeometry, fh: number, fw: number): tf.Tensor {
  const rows = x.shape[0] * g.info.outHeight * g.info.outWidth;
  const { outHeight: oh, outWidth: ow } = g.info;
  const [sh, sw] = g.strides;
  const xp4 = paddedInput(x, g, fh, fw);
  // Sliced as [N, H, W]: wasm's slice of a 4-D tensor with a trailing 1 takes a slow path.
  const xp = xp4.reshape([xp4.shape[0], xp4.shape[1], xp4.shape[2]]) as tf.Tensor3D;
  const n = x.shape[0];
  const taps: tf.Tensor[] = [];
  for (let kh = 0; kh < fh; kh++) {
    for (let kw = 0; kw < fw; kw++) {
      const t =
        sh === 1 && sw === 1
          ? tf.slice(xp, [0, kh, kw], [n, oh, ow])
          : tf.stridedSlice(xp, [0, kh, kw], [n, kh + (oh - 1) * sh + 1, kw + (ow - 1) * sw + 1], [1, sh, sw]);
      taps.push(t.reshape([rows]));
    }
  }
  const cols = taps.length === 1 ? taps[0].reshape([1, rows]) : tf.stack(taps);
  return tf.matMul(cols as tf.Tensor2D, dy.reshape([rows, dy.shape[3]])).reshape([fh, fw, 1, dy.shape[3]]);
}

/**
 * dW as one convolution XNNPACK runs natively: batch and channels swap roles (x as [Cin, H, W, N],
 * dy as a filter [OH, OW, N, Cout]) and the forward stride becomes the dilation. Only for
 * dilation 1, which is all tfjs's conv gradient ever asks for.
 */
function backpropFilterAsConv(x: tf.Tensor4D, dy: tf.Tensor4D, g: ConvGeometry, fh: number, fw: number): tf.Tensor {
  const { padInfo, outHeight, outWidth, inHeight, inWidth } = g.info;
  const [sh, sw] = g.strides;
  let bottom = fh + (outHeight - 1) * sh - inHeight - padInfo.top;
  let right = fw + (outWidth - 1) * sw - inWidth - padInfo.left;
  let input = x;
  if (bottom < 0 || right < 0) {
    // Rows and columns past the last tap's reach never meet dy: drop them.
    input = tf.slice(x, [0, 0, 0, 0], [x.shape[0], inHeight + Math.min(0, bottom), inWidth + Math.min(0, right), x.shape[3]]);
    bottom = Math.max(0, bottom);
    right = Math.max(0, right);
  }
  const xt = tf.transpose(input, [3, 1, 2, 0]);
  const filter = tf.transpose(dy, [1, 2, 0, 3]);
  const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [padInfo.top, bottom], [padInfo.left, right], [0, 0]];
  const out = tf.conv2d(xt, filter, 1, pad, "NHWC", [sh, sw]);
  return tf.transpose(out, [1, 2, 0, 3]);
}

/** dW[kh,kw,c,m] = Σ x_tap[n,o,c] · dy[n,o,c·M+m], one multiply-and-sum per tap. */
function depthwiseBackpropFilter(args: KernelArgs): tf.TensorInfo {
  const attrs = args.attrs ?? {};
  const filterShape = attrs.filterShape as [number, number, number, number];
  return handOver(args.backend, () => {
    const x = toNhwc(asTensor(args.inputs.x) as tf.Tensor4D, attrs);
    const dy = toNhwc(asTensor(args.inputs.dy) as tf.Tensor4D, attrs);
    const [fh, fw, cin, m] = filterShape;
    const g = convGeometry(x.shape, filterShape, attrs, true);
    const xp = paddedInput(x, g, fh, fw);
    const rows = x.shape[0] * g.info.outHeight * g.info.outWidth;
    const dy3 = dy.reshape([rows, cin, m]);
    const perTap: tf.Tensor[] = [];
    for (let kh = 0; kh < fh; kh++) {
      for (let kw = 0; kw < fw; kw++) {
        const xt = tap(xp, g, kh, kw).reshape([rows, cin, 1]);
        perTap.push(tf.sum(tf.mul(xt, dy3), 0));
      }
    }
    return tf.stack(perTap).reshape([fh, fw, cin, m]);
  });
}

/**
 * dx as a stride-1 depthwise correlation of the stride-dilated, fully padded dy with the flipped
 * filter, summed over the channel multiplier.
 */
function depthwiseBackpropInput(args: KernelArgs): tf.TensorInfo {
  const attrs = args.attrs ?? {};
  return handOver(args.backend, () => {
    const dy = toNhwc(asTensor(args.inputs.dy) as tf.Tensor4D, attrs);
    const filter = asTensor(args.inputs.filter) as tf.Tensor4D;
    const nhwcInput = nhwcInputShape(attrs);
    const [fh, fw, cin, m] = filter.shape;
    const g = convGeometry(nhwcInput, filter.shape, attrs, true);
    const [n, inH, inW] = nhwcInput;
    const { padInfo } = g.info;
    const [dh, dw] = g.dilations;
    const dyd = dilateByStride(dy, g);
    const fullH = (fh - 1) * dh;
    const fullW = (fw - 1) * dw;
    const lenH = dyd.shape[1] + fullH;
    const lenW = dyd.shape[2] + fullW;
    // Correlation output row r reads dyfull[r .. r + (fh-1)·dh]; we need rows top .. top+inH-1.
    const bottom = Math.max(0, padInfo.top + inH + fullH - lenH);
    const right = Math.max(0, padInfo.left + inW + fullW - lenW);
    const dyFull = tf.pad(dyd, [[0, 0], [fullH, bottom], [fullW, right], [0, 0]]);
    const flipped = flippedFilter(filter, false).reshape([fh, fw, cin * m, 1]) as tf.Tensor4D;
    const corr = tf.depthwiseConv2d(dyFull, flipped, 1, "valid", "NHWC", [dh, dw]);
    const cropped = tf.slice(corr, [0, padInfo.top, padInfo.left, 0], [n, inH, inW, cin * m]);
    const dx = m === 1 ? cropped : tf.sum(cropped.reshape([n, inH, inW, cin, m]), 4);
    return (attrs.dataFormat === "NCHW" ? tf.transpose(dx, [0, 3, 1, 2]) : dx) as tf.Tensor;
  });
}

/** Σ of rows per segment through scatterND, which accumulates duplicate indices. Out-of-range ids are dropped, as TensorFlow does. */
function unsortedSegmentSum(args: KernelArgs): tf.TensorInfo {
  const numSegments = (args.attrs ?? {}).numSegments as number;
  return handOver(args.backend, () => {
    const x = asTensor(args.inputs.x);
    const ids = asTensor(args.inputs.segmentIds);
    const idRank = ids.rank;
    const rows = ids.size;
    const inner = x.shape.slice(idRank);
    const innerSize = inner.reduce((a, b) => a * b, 1);
    const flatIds = tf.cast(ids.reshape([rows]), "int32");
    const valid = tf.logicalAnd(tf.greaterEqual(flatIds, 0), tf.less(flatIds, numSegments));
    const safeIds = tf.where(valid, flatIds, tf.zerosLike(flatIds));
    const updates = tf.mul(x.reshape([rows, innerSize]), tf.cast(valid, x.dtype).reshape([rows, 1]));
    const summed = tf.scatterND(safeIds.reshape([rows, 1]), updates, [numSegments, innerSize]);
    return summed.reshape([numSegments, ...inner]);
  });
}

function broadcastTo(args: KernelArgs): tf.TensorInfo {
  const shape = (args.attrs ?? {}).shape as number[];
  return handOver(args.backend, () => {
    const x = asTensor(args.inputs.x);
    const ranked = x.rank === shape.length ? x : x.reshape([...new Array(shape.length - x.rank).fill(1), ...x.shape]);
    const reps = shape.map((d, i) => (ranked.shape[i] === d ? 1 : d));
    return reps.every((r) => r === 1) ? tf.clone(ranked) : tf.tile(ranked, reps);
  });
}

function logSoftmax(args: KernelArgs): tf.TensorInfo {
  const axis = ((args.attrs ?? {}).axis as number | undefined) ?? -1;
  return handOver(args.backend, () => {
    const logits = asTensor(args.inputs.logits);
    const shifted = tf.sub(logits, tf.max(logits, axis, true));
    return tf.sub(shifted, tf.log(tf.sum(tf.exp(shifted), axis, true)));
  });
}

/**
 * dx of a 2-D convolution as one forward convolution XNNPACK runs natively: dy, dilated by the
 * stride, correlated with the spatially flipped filter whose in/out channels swap. wasm's own
 * Conv2DBackpropInput is a scalar loop several times slower.
 */
function conv2DBackpropInput(args: KernelArgs): tf.TensorInfo {
  const attrs = args.attrs ?? {};
  return handOver(args.backend, () => {
    const dy = toNhwc(asTensor(args.inputs.dy) as tf.Tensor4D, attrs);
    const filter = asTensor(args.inputs.filter) as tf.Tensor4D;
    const nhwcInput = nhwcInputShape(attrs);
    const [fh, fw, , cout] = filter.shape;
    const g = convGeometry(nhwcInput, filter.shape, { ...attrs, dilations: 1 }, false);
    const [n, inH, inW] = nhwcInput;
    const { padInfo } = g.info;
    let dyd = dilateByStride(dy, g);
    // dx row r reads padded dyd rows r .. r+fh-1, with fh-1-top zero rows on top.
    const top = fh - 1 - padInfo.top;
    const left = fw - 1 - padInfo.left;
    let bottom = inH + fh - 1 - top - dyd.shape[1];
    let right = inW + fw - 1 - left - dyd.shape[2];
    if (bottom < 0 || right < 0) {
      // Trailing rows past what any dx row reads: drop them (explicit paddings wider than the filter).
      dyd = tf.slice(dyd, [0, 0, 0, 0], [n, dyd.shape[1] + Math.min(0, bottom), dyd.shape[2] + Math.min(0, right), cout]);
      bottom = Math.max(0, bottom);
      right = Math.max(0, right);
    }
    const flipped = flippedFilter(filter, true);
    const dx = tf.conv2d(dyd, flipped, 1, [[0, 0], [top, bottom], [left, right], [0, 0]], "NHWC");
    return attrs.dataFormat === "NCHW" ? tf.transpose(dx, [0, 3, 1, 2]) : dx;
  });
}

interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/**
 * MaxPoolGrad in one pass over the pooled outputs, on the wasm heap: each dy goes to the first
 * maximum of its window (row-major window order), as the plain JS backend does; windows that
 * overlap add up. The forward output gives each window's maximum, so the search stops at the
 * first equal pixel. wasm's own MaxPoolGrad rescans every window for every input pixel.
 */
function maxPoolGrad(args: KernelArgs): tf.TensorInfo {
  const attrs = args.attrs ?? {};
  const backend = args.backend as WasmHeapBackend;
  const { dy, input, output } = args.inputs;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize as [number, number] | number,
    attrs.strides as [number, number] | number,
    1,
    attrs.pad as "same" | "valid" | number,
    attrs.dimRoundingMode as "floor" | "round" | "ceil" | undefined,
  );
  const out = backend.makeOutput([...input.shape], "float32");
  // Views after the allocation: it may grow (and so detach) the heap.
  const x = backend.typedArrayFromHeap(input) as Float32Array;
  const y = backend.typedArrayFromHeap(output) as Float32Array;
  const g = backend.typedArrayFromHeap(dy) as Float32Array;
  const dx = backend.typedArrayFromHeap(out) as Float32Array;
  maxPoolBackwardInto(x, y, g, dx, info, false);
  return out;
}

const KERNELS: [string, KernelFn][] = [
  ["Conv2DBackpropFilter", conv2DBackpropFilter],
  ["DepthwiseConv2dNativeBackpropFilter", depthwiseBackpropFilter],
  ["DepthwiseConv2dNativeBackpropInput", depthwiseBackpropInput],
  ["UnsortedSegmentSum", unsortedSegmentSum],
  ["BroadcastTo", broadcastTo],
  ["LogSoftmax", logSoftmax],
];

/** Kernels wasm has, but as scalar loops that dominate a CNN training step: replaced. */
const FASTER: [string, KernelFn][] = [
  ["Conv2DBackpropInput", conv2DBackpropInput],
  ["MaxPoolGrad", maxPoolGrad],
];

/** The kernel names this module adds to wasm. */
export const WASM_TRAINING_KERNELS: readonly string[] = KERNELS.map(([name]) => name);

/** The wasm kernel names this module replaces with faster versions. */
export const WASM_REPLACED_KERNELS: readonly string[] = FASTER.map(([name]) => name);

let replaced = false;

/**
 * Register the missing training kernels for "wasm" and replace the slow ones (idempotent; a
 * missing kernel added by wasm itself in a later version is kept).
 */
export function registerWasmTrainingKernels(): void {
  const present = new Set(tf.getKernelsForBackend("wasm").map((k) => k.kernelName));
  for (const [kernelName, fn] of KERNELS) {
    if (present.has(kernelName)) continue;
    tf.registerKernel({ kernelName, backendName: "wasm", kernelFunc: fn as unknown as tf.KernelFunc });
  }
  if (replaced) return;
  replaced = true;
  for (const [kernelName, fn] of FASTER) {
    if (present.has(kernelName)) tf.unregisterKernel(kernelName, "wasm");
    tf.registerKernel({ kernelName, backendName: "wasm", kernelFunc: fn as unknown as tf.KernelFunc });
  }
}
