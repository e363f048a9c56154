import { MalformedInputError, type ErrorCode } from "../errors.js";
import { encodingIdOf, formatEncoding, parseEncoding } from "./encoding.js";
import { modelFingerprintBytes, toHex } from "./fingerprint.js";
import { floatToHalf } from "./float16.js";
import {
  alignUp,
  DELTA_MAGIC,
  DELTA_VERSION,
  elementCount,
  HEADER_BYTES,
  LITTLE_ENDIAN,
  MAX_RANK,
  payloadSize,
  type DeltaTensor,
} from "./format.js";

/** What encodeDelta needs: the tensors in model order and the number of training samples. */
export interface DeltaInput {
  sampleCount: number;
  tensors: readonly DeltaTensor[];
  /** When given, must equal modelFingerprint of the tensors (guards against mixing models). */
  fingerprint?: string;
}

export interface EncodeDeltaOptions {
  /** Encoding spec (see parseEncoding); default "float32". */
  encoding?: string;
  /**
   * Error-feedback residual from the previous round (top-k only), one array per tensor in the
   * same order. It is added to the delta before selecting; what is not sent comes back in
   * EncodeDeltaResult.residual for the caller to keep.
   */
  residual?: readonly Float32Array[];
}

export interface EncodeDeltaResult {
  bytes: Uint8Array;
  /** New residual (top-k only): the part of delta + old residual that was not sent. */
  residual?: Float32Array[];
}

function malformed(code: ErrorCode, message: string, hint?: string): MalformedInputError {
  return new MalformedInputError(message, { code, hint });
}

/**
 * Encodes a weight delta into the versioned binary format documented in format.ts.
 * Rejects non-finite values, data whose length does not match its shape, and names that
 * cannot be represented. For "topk:<F>" each tensor keeps its ceil(F·n) largest-magnitude
 * elements of (delta + residual) and returns the remainder as the new residual.
 */
export function encodeDelta(delta: DeltaInput, options: EncodeDeltaOptions = {}): EncodeDeltaResult {
  const encoding = parseEncoding(options.encoding ?? "float32");
  const { tensors } = delta;
  if (!Number.isSafeInteger(delta.sampleCount) || delta.sampleCount < 0) {
    throw malformed("DELTA_BAD_SAMPLE_COUNT", `Sample count must be a non-negative integer, got ${delta.sampleCount}.`);
  }
  if (options.residual && encoding.kind !== "topk") {
    throw malformed("DELTA_RESIDUAL_UNUSED", `A residual only applies to top-k encodings, not "${formatEncoding(encoding)}".`);
  }
  if (options.residual && options.residual.length !== tensors.length) {
    throw malformed("DELTA_SIZE_MISMATCH", `Residual has ${options.residual.length} tensors, the delta has ${tensors.length}.`);
  }

  const enc = new TextEncoder();
  const names = tensors.map((t) => enc.encode(t.name));
  const dtypes = tensors.map((t) => enc.encode(t.dtype ?? "float32"));
  let tableBytes = 0;
  tensors.forEach((t, i) => {
    if (/[\t\n]/.test(t.name) || names[i].length > 0xffff) {
      throw malformed("DELTA_BAD_NAME", `Tensor name ${JSON.stringify(t.name)} is too long or contains a tab or newline.`);
    }
    if (!/^[a-z0-9]{1,32}$/.test(t.dtype ?? "float32")) {
      throw malformed("DELTA_BAD_DTYPE", `Tensor ${t.name} has an unusable dtype ${JSON.stringify(t.dtype)}.`);
    }
    if (t.shape.length > MAX_RANK || t.shape.some((d) => !Number.isInteger(d) || d < 0 || d > 0xffffffff)) {
      throw malformed("DELTA_BAD_SHAPE", `Tensor ${t.name} has an unusable shape [${t.shape.join(", ")}].`);
    }
    if (elementCount(t.shape) !== t.data.length) {
      throw malformed(
        "DELTA_SIZE_MISMATCH",
        `Tensor ${t.name} has ${t.data.length} values but its shape [${t.shape.join(", ")}] needs ${elementCount(t.shape)}.`,
      );
    }
    if (options.residual && options.residual[i].length !== t.data.length) {
      throw malformed("DELTA_SIZE_MISMATCH", `Residual of tensor ${t.name} has ${options.residual[i].length} values, expected ${t.data.length}.`);
    }
    tableBytes += 2 + names[i].length + 1 + dtypes[i].length + 1 + 4 * t.shape.length;
  });

  const fp = modelFingerprintBytes(tensors);
  if (delta.fingerprint !== undefined && delta.fingerprint.toLowerCase() !== `0x${toHex(fp)}`) {
    throw malformed(
      "DELTA_FINGERPRINT_MISMATCH",
      `The delta's tensors have fingerprint 0x${toHex(fp)}, not the declared ${delta.fingerprint}.`,
      "The delta was computed against a different model than the one named.",
    );
  }

  // Top-k selects before sizing, since the payload size depends on k.
  let sparse: { indices: Uint32Array; values: Float32Array }[] | undefined;
  let residualOut: Float32Array[] | undefined;
  if (encoding.kind === "topk") {
    sparse = [];
    residualOut = [];
    for (let i = 0; i < tensors.length; i++) {
      const acc = Float32Array.from(tensors[i].data);
      const old = options.residual?.[i];
      if (old) for (let j = 0; j < acc.length; j++) acc[j] += old[j];
      assertFinite(acc, tensors[i].name);
      const k = acc.length === 0 ? 0 : Math.min(acc.length, Math.ceil(encoding.fraction * acc.length));
      const indices = topKIndices(acc, k);
      const values = new Float32Array(k);
      for (let j = 0; j < k; j++) {
        values[j] = acc[indices[j]];
        acc[indices[j]] = 0;
      }
      sparse.push({ indices, values });
      residualOut.push(acc);
    }
  }

  const payloadSizes = tensors.map((t, i) => payloadSize(encoding, t.data.length, sparse?.[i].indices.length ?? 0));
  let total = alignUp(HEADER_BYTES + tableBytes);
  for (const s of payloadSizes) total = alignUp(total) + s;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);

  out.set(DELTA_MAGIC, 0);
  view.setUint16(4, DELTA_VERSION, true);
  view.setUint8(6, encodingIdOf(encoding));
  view.setUint8(7, 0);
  out.set(fp, 8);
  view.setBigUint64(40, BigInt(delta.sampleCount), true);
  view.setUint32(48, tensors.length, true);
  view.setUint32(52, encoding.kind === "int8Block" ? encoding.blockSize : 0, true);
  view.setUint32(56, tableBytes, true);
  view.setUint32(60, 0, true);

  let off = HEADER_BYTES;
  tensors.forEach((t, i) => {
    view.setUint16(off, names[i].length, true);
    out.set(names[i], off + 2);
    off += 2 + names[i].length;
    view.setUint8(off, dtypes[i].length);
    out.set(dtypes[i], off + 1);
    off += 1 + dtypes[i].length;
    view.setUint8(off, t.shape.length);
    off += 1;
    for (const d of t.shape) {
      view.setUint32(off, d, true);
      off += 4;
    }
  });

  for (let i = 0; i < tensors.length; i++) {
    off = alignUp(off);
    const data = tensors[i].data;
    switch (encoding.kind) {
      case "float32":
        assertFinite(data, tensors[i].name);
        writeFloat32(out, view, off, data);
        break;
      case "float16":
        writeFloat16(view, off, data, tensors[i].name);
        break;
      case "int8":
        writeInt8Blocks(out, view, off, data, Math.max(1, data.length), 1, tensors[i].name);
        break;
      case "int8Block":
        writeInt8Blocks(out, view, off, data, encoding.blockSize, Math.ceil(data.length / encoding.blockSize), tensors[i].name);
        break;
      case "topk": {
        const { indices, values } = sparse![i];
        view.setUint32(off, indices.length, true);
        for (let j = 0; j < indices.length; j++) view.setUint32(off + 4 + 4 * j, indices[j], true);
        writeFloat32(out, view, off + 4 + 4 * indices.length, values);
        break;
      }
    }
    off += payloadSizes[i];
  }
  return residualOut ? { bytes: out, residual: residualOut } : { bytes: out };
}

function assertFinite(data: Float32Array, name: string): void {
  let s0 = 0, s1 = 0;
  const n = data.length - (data.length % 2);
  for (let j = 0; j < n; j += 2) {
    s0 += data[j] * 0;
    s1 += data[j + 1] * 0;
  }
  if (n < data.length) s0 += data[n] * 0;
  const s = s0 + s1;
  // x·0 is NaN exactly for NaN and ±Inf, so one cheap pass finds any non-finite value.
  if (s !== 0) {
    throw malformed("DELTA_NON_FINITE", `Tensor ${name} contains NaN or ±Inf; refusing to encode it.`, "Training diverged; lower the learning rate.");
  }
}

function writeFloat32(out: Uint8Array, view: DataView, off: number, data: Float32Array): void {
  if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), off);
  } else {
    for (let j = 0; j < data.length; j++) view.setFloat32(off + 4 * j, data[j], true);
  }
}

function writeFloat16(view: DataView, off: number, data: Float32Array, name: string): void {
  for (let j = 0; j < data.length; j++) {
    const x = data[j];
    if (!Number.isFinite(x) || Math.abs(x) > 65504) {
      throw malformed(
        "DELTA_NON_FINITE",
        `Tensor ${name} has value ${x} that float16 cannot hold.`,
        "Use float32 or int8 for this delta, or clip it first.",
      );
    }
    view.setUint16(off + 2 * j, floatToHalf(x), true);
  }
}

function writeInt8Blocks(
  out: Uint8Array,
  view: DataView,
  off: number,
  data: Float32Array,
  block: number,
  blocks: number,
  name: string,
): void {
  const n = data.length;
  const q = new Int8Array(out.buffer, out.byteOffset + off + 4 * blocks, n);
  for (let b = 0; b < blocks; b++) {
    const start = b * block;
    const end = Math.min(n, start + block);
    let max = 0;
    for (let j = start; j < end; j++) {
      const a = Math.abs(data[j]);
      if (!(a <= 3.4e38)) throw malformed("DELTA_NON_FINITE", `Tensor ${name} contains NaN or ±Inf; refusing to encode it.`);
      if (a > max) max = a;
    }
    const scale = Math.fround(max / 127);
    view.setFloat32(off + 4 * b, scale, true);
    const inv = scale > 0 ? 1 / scale : 0;
    for (let j = start; j < end; j++) {
      const r = Math.round(data[j] * inv);
      q[j] = r > 127 ? 127 : r < -127 ? -127 : r;
    }
  }
}

/** Indices of the k largest |values|, ascending; ties broken by lower index. */
function topKIndices(values: Float32Array, k: number): Uint32Array {
  const n = values.length;
  const out = new Uint32Array(k);
  if (k === 0) return out;
  if (k === n) {
    for (let j = 0; j < n; j++) out[j] = j;
    return out;
  }
  const mags = new Float32Array(n);
  for (let j = 0; j < n; j++) mags[j] = Math.abs(values[j]);
  const threshold = quickselect(mags, n - k);
  let strictlyAbove = 0;
  for (let j = 0; j < n; j++) if (Math.abs(values[j]) > threshold) strictlyAbove++;
  let tiesLeft = k - strictlyAbove;
  let w = 0;
  for (let j = 0; j < n && w < k; j++) {
    const a = Math.abs(values[j]);
    if (a > threshold) out[w++] = j;
    else if (a === threshold && tiesLeft > 0) {
      out[w++] = j;
      tiesLeft--;
    }
  }
  return out;
}

/** The value of rank r (0-based, ascending) of a; reorders a in place. Iterative, O(n) expected. */
function quickselect(a: Float32Array, r: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    // Median of three keeps sorted or constant inputs from going quadratic.
    const x = a[lo], y = a[mid], z = a[hi];
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (r <= j) hi = j;
    else if (r >= i) lo = i;
    else return a[r];
  }
  return a[r];
}
