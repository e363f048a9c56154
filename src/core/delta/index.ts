/** Weight-delta wire format: see format.ts for the byte layout and error bounds. */
export { encodeDelta, type DeltaInput, type EncodeDeltaOptions, type EncodeDeltaResult } from "./encode.js";
export { decodeDelta, type DecodeDeltaOptions, type DecodedDelta } from "./decode.js";
export { modelFingerprint, modelFingerprintBytes, type TensorSpec } from "./fingerprint.js";
export { parseEncoding, formatEncoding } from "./encoding.js";
export { DELTA_MAGIC, DELTA_VERSION, HEADER_BYTES, elementCount, type Delta, type DeltaTensor, type ParsedEncoding } from "./format.js";
