/**
 * FORMAT — the dat weight-delta wire format, version 1. This comment is the one place it is
 * documented; encode.ts and decode.ts implement exactly this. All integers are little-endian.
 *
 * Header (64 bytes):
 *   off  size  field
 *   0    4     magic "DATD" (0x44 0x41 0x54 0x44)
 *   4    2     version (u16) = 1
 *   6    1     encoding id (u8): 0 float32, 1 float16, 2 int8 (one scale per tensor),
 *              3 int8 (one scale per block), 4 top-k sparse
 *   7    1     flags (u8), must be 0
 *   8    32    model fingerprint: sha256 of the layer names, shapes and dtypes (modelFingerprint)
 *   40   8     sample count (u64, at most 2^53 − 1)
 *   48   4     tensor count (u32)
 *   52   4     parameter (u32): block size for encoding 3 (≥ 1), 0 otherwise
 *   56   4     table length in bytes (u32)
 *   60   4     reserved, must be 0
 *
 * Tensor table (table length bytes, right after the header), one entry per tensor in model order:
 *   u16 name length, name (UTF-8), u8 dtype length, dtype (ASCII, e.g. "float32"),
 *   u8 rank (≤ 8), rank × u32 dims.
 * The fingerprint in the header must equal modelFingerprint(table): a decoder recomputes it, so a
 * header cannot claim one model while the table describes another.
 *
 * Payloads follow, one per tensor in table order, each starting at an offset that is a multiple
 * of 8 from the start of the blob (zero padding before it), for n = product of dims elements:
 *   0 float32    n × f32
 *   1 float16    n × IEEE binary16 (u16)
 *   2 int8       f32 scale, n × i8; value = q × scale
 *   3 int8 block ceil(n / block) × f32 scales, n × i8; value = q × scale[i / block]
 *   4 top-k      u32 k (≤ n), k × u32 indices (strictly increasing, < n), k × f32 values;
 *                every other element is 0
 * The blob ends right after the last payload (trailing bytes are rejected). Scales must be finite
 * and ≥ 0; every decoded value must be finite.
 *
 * Error bounds (per element, versus the float32 input): float32 exact; float16 relative 2^-11 for
 * normal values (absolute 2^-25 below 2^-14; values above 65504 are rejected at encode time);
 * int8 at most scale / 2 where scale = max|x| / 127 over the tensor (or block); top-k exact on
 * the kept elements, the rest goes into the residual that the caller keeps for the next round.
 */

/** "DATD" */
export const DELTA_MAGIC = new Uint8Array([0x44, 0x41, 0x54, 0x44]);
export const DELTA_VERSION = 1;
export const HEADER_BYTES = 64;
export const MAX_RANK = 8;
const PAYLOAD_ALIGN = 8;
/** True on little-endian hosts, where float payloads can be copied (or viewed) byte for byte. */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export const EncodingId = {
  float32: 0,
  float16: 1,
  int8: 2,
  int8Block: 3,
  topk: 4,
} as const;
export type EncodingIdValue = (typeof EncodingId)[keyof typeof EncodingId];

/**
 * A delta encoding as written on the command line and in job config (see parseEncoding):
 * "float32", "float16", "int8" (one scale per tensor), "int8:<block>" (one scale per block of
 * <block> elements), "topk:<fraction>" (keep that fraction of the largest-magnitude elements).
 */
export type ParsedEncoding =
  | { kind: "float32" }
  | { kind: "float16" }
  | { kind: "int8" }
  | { kind: "int8Block"; blockSize: number }
  | { kind: "topk"; fraction: number };

/** One tensor of a decoded delta, in model order. */
export interface DeltaTensor {
  name: string;
  shape: number[];
  /** dtype of the model variable this delta applies to (the delta values are always float32). */
  dtype?: string;
  data: Float32Array;
}

/** A weight delta (trained − global) with the number of samples it was trained on. */
export interface Delta {
  /** 0x-prefixed sha256 hex of the model's layer names, shapes and dtypes. */
  fingerprint: `0x${string}`;
  sampleCount: number;
  /**
   * Encoding the delta was stored with: "float32", "float16", "int8", "int8:<block>", or "topk"
   * (the top-k fraction is a sender's choice and is not stored; k per tensor is).
   */
  encoding: string;
  tensors: (DeltaTensor & { dtype: string })[];
}

/** Rounds x up to the next multiple of PAYLOAD_ALIGN. */
export function alignUp(x: number): number {
  return Math.ceil(x / PAYLOAD_ALIGN) * PAYLOAD_ALIGN;
}

/** Number of elements of a shape; 1 for a scalar. */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Payload bytes of one tensor of n elements (k kept elements for top-k). */
export function payloadSize(encoding: ParsedEncoding, n: number, k: number): number {
  switch (encoding.kind) {
    case "float32":
      return 4 * n;
    case "float16":
      return 2 * n;
    case "int8":
      return 4 + n;
    case "int8Block":
      return 4 * Math.ceil(n / encoding.blockSize) + n;
    case "topk":
      return 4 + 8 * k;
  }
}
