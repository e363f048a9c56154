/**
 * Flat access to the weights inside a packed model blob (src/train/modelIo.ts packModel: "DATM",
 * u32 version, u32 JSON length, model.json, then the float32 weights in model.weights order).
 * Aggregation only adds a delta to those weights, so it works on the bytes directly: no tfjs
 * model is built to close a round, and the new blob keeps the base model's JSON byte for byte.
 */
import { MalformedInputError, UserError } from "../core/errors.js";
import { modelFingerprint } from "../core/delta/fingerprint.js";
import type { Hex } from "./types.js";

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
}

export interface ModelBlobView {
  specs: WeightSpec[];
  fingerprint: Hex;
  /** Total number of scalar weights. */
  length: number;
  /** A copy of the weights, flat, in model order. */
  weights: Float32Array;
  /** The bytes before the weights (header + model.json), reused when repacking. */
  prefix: Uint8Array;
}

/**
 * Reads the weight manifest and the flat weights of a packed model blob.
 * @throws MalformedInputError MODEL_BLOB_MALFORMED when the blob is not a packed float32 model.
 */
export async function readModelBlob(bytes: Uint8Array): Promise<ModelBlobView> {
  const { unpackModelFiles } = await import("../train/modelIo.js");
  const files = unpackModelFiles(bytes);
  const specs: WeightSpec[] = (files.json.weightsManifest ?? []).flatMap((g) =>
    g.weights.map((w) => ({ name: w.name, shape: [...w.shape], dtype: w.dtype ?? "float32" })),
  );
  if (specs.length === 0) {
    throw new MalformedInputError("The model has no weights.", { code: "MODEL_BLOB_MALFORMED" });
  }
  const notFloat = specs.find((s) => s.dtype !== "float32");
  if (notFloat) {
    throw new UserError(`Weight ${notFloat.name} is ${notFloat.dtype}; dat aggregates float32 weights only.`, {
      code: "MODEL_UNSUPPORTED_DTYPE",
    });
  }
  const length = specs.reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1), 0);
  if (files.weights.byteLength !== length * 4) {
    throw new MalformedInputError(
      `The model's weights hold ${files.weights.byteLength} bytes, its manifest describes ${length * 4}.`,
      { code: "MODEL_BLOB_MALFORMED" },
    );
  }
  const weights = new Float32Array(files.weights.slice(0));
  const prefix = bytes.slice(0, bytes.length - files.weights.byteLength);
  return { specs, fingerprint: modelFingerprint(specs), length, weights, prefix };
}

/** A new packed blob: the base model's header and JSON with other weights (same manifest). */
export function repackModelBlob(base: ModelBlobView, weights: Float32Array): Uint8Array {
  if (weights.length !== base.length) throw new Error(`repack: ${weights.length} weights for a model of ${base.length}`);
  const out = new Uint8Array(base.prefix.length + weights.byteLength);
  out.set(base.prefix, 0);
  out.set(new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength), base.prefix.length);
  return out;
}

/** Offsets of each tensor in the flat vector, for flattening decoded delta tensors. */
export function tensorOffsets(specs: readonly WeightSpec[]): number[] {
  const offsets: number[] = [];
  let at = 0;
  for (const s of specs) {
    offsets.push(at);
    at += s.shape.reduce((a, b) => a * b, 1);
  }
  return offsets;
}
