import { MalformedInputError, type ErrorCode } from "../errors.js";
import { encodingKindOf } from "./encoding.js";
import { modelFingerprintBytes, toHex } from "./fingerprint.js";
import { float16Table } from "./float16.js";
import {
  alignUp,
  DELTA_MAGIC,
  DELTA_VERSION,
  HEADER_BYTES,
  LITTLE_ENDIAN,
  MAX_RANK,
  payloadSize,
  type Delta,
  type ParsedEncoding,
} from "./format.js";

export interface DecodeDeltaOptions {
  /** The job's model fingerprint (0x hex); a delta for another model is rejected. */
  expectedFingerprint?: string;
  /** The job's L2 clipping bound; a delta whose norm exceeds it (beyond normTolerance) is rejected. */
  maxNorm?: number;
  /**
   * Relative slack on maxNorm, default 1e-3: quantizing a clipped delta may move its norm by a
   * rounding error, which is not an attack.
   */
  normTolerance?: number;
  /** Largest blob accepted, in bytes. */
  maxBytes?: number;
  /**
   * Largest number of decoded values (all tensors together), default 2^28 (1 GiB of float32).
   * Bounds the allocation for top-k deltas, whose dense size is not limited by their byte length.
   */
  maxElements?: number;
  /**
   * Always copy float32 payloads. By default, when the platform is little-endian and the payload
   * is 4-byte aligned in memory, float32 tensors are views over `bytes` (no copy): writing to one
   * changes the other. Set this when either will be mutated.
   */
  copy?: boolean;
}

/** A decoded delta with its L2 norm over all tensors. */
export interface DecodedDelta extends Delta {
  norm: number;
}

const DEFAULT_MAX_ELEMENTS = 2 ** 28;
const DTYPE_RE = /^[a-z0-9]{1,32}$/;

function fail(code: ErrorCode, message: string, hint?: string): MalformedInputError {
  return new MalformedInputError(message, {
    code,
    hint: hint ?? "The delta blob is damaged or was not written by dat; ask the contributor to push it again.",
  });
}

interface TableEntry {
  name: string;
  dtype: string;
  shape: number[];
  n: number;
}

/**
 * Decodes and validates a delta blob (format.ts). Every problem is a MalformedInputError with a
 * stable code: DELTA_TOO_LARGE, DELTA_BAD_MAGIC, DELTA_UNSUPPORTED_VERSION, DELTA_BAD_ENCODING,
 * DELTA_TRUNCATED, DELTA_SIZE_MISMATCH, DELTA_MALFORMED, DELTA_FINGERPRINT_MISMATCH,
 * DELTA_NON_FINITE, DELTA_NORM_EXCEEDED. Sizes are checked against the byte length before any
 * allocation, so a hostile header cannot make the decoder allocate more than the blob implies
 * (or maxElements for top-k). Aligned float32 tensors are views over `bytes` unless options.copy.
 */
export function decodeDelta(bytes: Uint8Array, options: DecodeDeltaOptions = {}): DecodedDelta {
  const len = bytes.length;
  if (options.maxBytes !== undefined && len > options.maxBytes) {
    throw fail("DELTA_TOO_LARGE", `Delta is ${len} bytes, more than the limit of ${options.maxBytes}.`, "Use a smaller encoding (int8 or topk).");
  }
  for (let i = 0; i < DELTA_MAGIC.length && i < len; i++) {
    if (bytes[i] !== DELTA_MAGIC[i]) throw fail("DELTA_BAD_MAGIC", "Not a dat delta (bad magic bytes).");
  }
  if (len < HEADER_BYTES) throw fail("DELTA_TRUNCATED", `Delta is truncated: ${len} bytes, shorter than its ${HEADER_BYTES}-byte header.`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, len);
  const version = view.getUint16(4, true);
  if (version !== DELTA_VERSION) {
    throw fail("DELTA_UNSUPPORTED_VERSION", `Delta format version ${version} is not supported (this dat reads version ${DELTA_VERSION}).`, "Upgrade dat, or re-encode the delta with this version.");
  }
  const kind = encodingKindOf(view.getUint8(6));
  if (view.getUint8(7) !== 0 || view.getUint32(60, true) !== 0) throw fail("DELTA_MALFORMED", "Delta header has non-zero reserved fields.");
  const fingerprint = bytes.subarray(8, 40);
  const sampleCountBig = view.getBigUint64(40, true);
  if (sampleCountBig > BigInt(Number.MAX_SAFE_INTEGER)) throw fail("DELTA_MALFORMED", `Delta declares an impossible sample count ${sampleCountBig}.`);
  const sampleCount = Number(sampleCountBig);
  const tensorCount = view.getUint32(48, true);
  const param = view.getUint32(52, true);
  const tableLength = view.getUint32(56, true);
  let encoding: ParsedEncoding;
  if (kind === "int8Block") {
    if (param < 1) throw fail("DELTA_MALFORMED", "Delta declares an int8 block size of 0.");
    encoding = { kind, blockSize: param };
  } else {
    if (param !== 0) throw fail("DELTA_MALFORMED", "Delta header has a parameter its encoding does not use.");
    encoding = kind === "topk" ? { kind, fraction: 1 } : { kind };
  }
  if (HEADER_BYTES + tableLength > len) throw fail("DELTA_TRUNCATED", `Delta is truncated inside its tensor table (${tableLength} bytes declared).`);
  // Smallest entry: u16 name length, u8 dtype length, 1-byte dtype, u8 rank.
  if (tensorCount * 5 > tableLength) {
    throw fail("DELTA_SIZE_MISMATCH", `Delta declares ${tensorCount} tensors, more than its ${tableLength}-byte table can describe.`);
  }

  const tableEnd = HEADER_BYTES + tableLength;
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const entries: TableEntry[] = [];
  let off = HEADER_BYTES;
  const need = (n: number) => {
    if (off + n > tableEnd) throw fail("DELTA_SIZE_MISMATCH", "Delta tensor table is shorter than its entries.");
  };
  for (let t = 0; t < tensorCount; t++) {
    need(2);
    const nameLen = view.getUint16(off, true);
    off += 2;
    need(nameLen + 1);
    let name: string;
    try {
      name = utf8.decode(bytes.subarray(off, off + nameLen));
    } catch {
      throw fail("DELTA_MALFORMED", `Tensor ${t} has a name that is not valid UTF-8.`);
    }
    if (/[\t\n]/.test(name)) throw fail("DELTA_MALFORMED", `Tensor ${t} has a name with a tab or newline.`);
    off += nameLen;
    const dtypeLen = view.getUint8(off);
    off += 1;
    need(dtypeLen + 1);
    const dtype = String.fromCharCode(...bytes.subarray(off, off + dtypeLen));
    if (!DTYPE_RE.test(dtype)) throw fail("DELTA_MALFORMED", `Tensor ${name} has an invalid dtype.`);
    off += dtypeLen;
    const rank = view.getUint8(off);
    off += 1;
    if (rank > MAX_RANK) throw fail("DELTA_MALFORMED", `Tensor ${name} has rank ${rank}, above the maximum ${MAX_RANK}.`);
    need(4 * rank);
    const shape: number[] = [];
    let n = 1;
    for (let r = 0; r < rank; r++) {
      const d = view.getUint32(off, true);
      off += 4;
      shape.push(d);
      n *= d;
    }
    entries.push({ name, dtype, shape, n });
  }
  if (off !== tableEnd) throw fail("DELTA_SIZE_MISMATCH", "Delta tensor table is longer than its entries.");

  const actual = modelFingerprintBytes(entries);
  if (toHex(actual) !== toHex(fingerprint)) throw fail("DELTA_MALFORMED", "Delta header fingerprint does not match its own tensor table.");
  const fpHex = `0x${toHex(fingerprint)}` as const;
  if (options.expectedFingerprint !== undefined && options.expectedFingerprint.toLowerCase() !== fpHex) {
    throw fail(
      "DELTA_FINGERPRINT_MISMATCH",
      `Delta is for model ${fpHex}, not the job's model ${options.expectedFingerprint}.`,
      "The contributor trained a different model; it must pull the job's current model and train again.",
    );
  }

  // Walk the payloads once to check every declared size against the byte length before allocating.
  const payloadOffsets: number[] = [];
  let totalElements = 0;
  for (const e of entries) {
    const start = alignUp(off);
    if (start > len) throw fail("DELTA_TRUNCATED", `Delta is truncated before tensor ${e.name}.`);
    for (let p = off; p < start; p++) if (bytes[p] !== 0) throw fail("DELTA_MALFORMED", "Delta has non-zero padding.");
    let k = 0;
    if (encoding.kind === "topk") {
      if (start + 4 > len) throw fail("DELTA_TRUNCATED", `Delta is truncated in tensor ${e.name}.`);
      k = view.getUint32(start, true);
      if (k > e.n) throw fail("DELTA_SIZE_MISMATCH", `Tensor ${e.name} declares ${k} kept values out of ${e.n}.`);
    }
    const size = payloadSize(encoding, e.n, k);
    if (start + size > len) throw fail("DELTA_TRUNCATED", `Delta is truncated in tensor ${e.name} (needs ${size} bytes).`);
    payloadOffsets.push(start);
    off = start + size;
    totalElements += e.n;
  }
  if (off !== len) throw fail("DELTA_SIZE_MISMATCH", `Delta has ${len - off} bytes after its last tensor.`);
  const maxElements = options.maxElements ?? DEFAULT_MAX_ELEMENTS;
  if (totalElements > maxElements) {
    throw fail("DELTA_TOO_LARGE", `Delta has ${totalElements} values, more than the limit of ${maxElements}.`);
  }

  const tensors: Delta["tensors"] = [];
  let sumSq = 0;
  entries.forEach((e, i) => {
    const start = payloadOffsets[i];
    const inPlace = encoding.kind === "float32" && !options.copy && LITTLE_ENDIAN && (bytes.byteOffset + start) % 4 === 0;
    const data = inPlace ? new Float32Array(bytes.buffer, bytes.byteOffset + start, e.n) : new Float32Array(e.n);
    switch (encoding.kind) {
      case "float32":
        if (!inPlace) readFloat32(bytes, view, start, data);
        break;
      case "float16": {
        const table = float16Table();
        if (LITTLE_ENDIAN && (bytes.byteOffset + start) % 2 === 0) {
          const h = new Uint16Array(bytes.buffer, bytes.byteOffset + start, e.n);
          for (let j = 0; j < e.n; j++) data[j] = table[h[j]];
        } else {
          for (let j = 0; j < e.n; j++) data[j] = table[view.getUint16(start + 2 * j, true)];
        }
        break;
      }
      case "int8":
        readInt8(bytes, view, start, data, Math.max(1, e.n), 1, e.name);
        break;
      case "int8Block":
        readInt8(bytes, view, start, data, encoding.blockSize, Math.ceil(e.n / encoding.blockSize), e.name);
        break;
      case "topk": {
        const k = view.getUint32(start, true);
        let prev = -1;
        const valuesAt = start + 4 + 4 * k;
        for (let j = 0; j < k; j++) {
          const idx = view.getUint32(start + 4 + 4 * j, true);
          if (idx <= prev || idx >= e.n) throw fail("DELTA_MALFORMED", `Tensor ${e.name} has top-k indices out of order or out of range.`);
          prev = idx;
          data[idx] = view.getFloat32(valuesAt + 4 * j, true);
        }
        break;
      }
    }
    const s = sumOfSquares(data);
    if (!Number.isFinite(s)) {
      let bad = 0;
      for (let j = 0; j < data.length; j++) bad += data[j] * 0;
      // x·0 is NaN only for NaN and ±Inf; otherwise the sum merely overflowed on huge finite values.
      if (bad !== 0) throw fail("DELTA_NON_FINITE", `Tensor ${e.name} contains NaN or ±Inf.`);
    }
    sumSq += s;
    tensors.push({ name: e.name, shape: e.shape, dtype: e.dtype, data });
  });

  const norm = Math.sqrt(sumSq);
  if (options.maxNorm !== undefined) {
    const tolerance = options.normTolerance ?? 1e-3;
    if (!(norm <= options.maxNorm * (1 + tolerance))) {
      throw fail(
        "DELTA_NORM_EXCEEDED",
        `Delta L2 norm ${norm} exceeds the job's bound ${options.maxNorm}.`,
        "The contributor must clip its delta to the job's norm bound before pushing.",
      );
    }
  }
  const encodingName = encoding.kind === "int8Block" ? `int8:${encoding.blockSize}` : encoding.kind;
  return { fingerprint: fpHex, sampleCount, encoding: encodingName, tensors, norm };
}

function readFloat32(bytes: Uint8Array, view: DataView, start: number, data: Float32Array): void {
  if (LITTLE_ENDIAN) {
    // A byte copy works whatever the alignment of the input and is a single memcpy.
    new Uint8Array(data.buffer).set(bytes.subarray(start, start + data.byteLength));
  } else {
    for (let j = 0; j < data.length; j++) data[j] = view.getFloat32(start + 4 * j, true);
  }
}

function readInt8(bytes: Uint8Array, view: DataView, start: number, data: Float32Array, block: number, blocks: number, name: string): void {
  const q = new Int8Array(bytes.buffer, bytes.byteOffset + start + 4 * blocks, data.length);
  for (let b = 0; b < blocks; b++) {
    const scale = view.getFloat32(start + 4 * b, true);
    if (!(scale >= 0 && scale <= 3.4e38)) throw fail("DELTA_NON_FINITE", `Tensor ${name} has an invalid int8 scale ${scale}.`);
    const end = Math.min(data.length, (b + 1) * block);
    for (let j = b * block; j < end; j++) data[j] = q[j] * scale;
  }
}

/**
 * Σx² in one pass with eight independent accumulators: breaks the floating-point add latency
 * chain (about 2× faster than one accumulator). A NaN or ±Inf anywhere makes the sum non-finite,
 * so this pass is also the finite check; the caller rescans only in that rare case.
 */
function sumOfSquares(a: Float32Array): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
  const n = a.length - (a.length % 8);
  for (let j = 0; j < n; j += 8) {
    const x0 = a[j], x1 = a[j + 1], x2 = a[j + 2], x3 = a[j + 3];
    const x4 = a[j + 4], x5 = a[j + 5], x6 = a[j + 6], x7 = a[j + 7];
    s0 += x0 * x0;
    s1 += x1 * x1;
    s2 += x2 * x2;
    s3 += x3 * x3;
    s4 += x4 * x4;
    s5 += x5 * x5;
    s6 += x6 * x6;
    s7 += x7 * x7;
  }
  for (let j = n; j < a.length; j++) s0 += a[j] * a[j];
  return s0 + s1 + s2 + s3 + (s4 + s5 + s6 + s7);
}
