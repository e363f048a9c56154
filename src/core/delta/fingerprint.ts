import { sha256 } from "@noble/hashes/sha2.js";

/** Layer description that a model fingerprint covers. */
export interface TensorSpec {
  name: string;
  shape: readonly number[];
  dtype?: string;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lower-case hex of bytes, without prefix. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]];
  return s;
}

/**
 * Fingerprint of a model's architecture: sha256 over its layer names, shapes and dtypes in model
 * order (dtype defaults to "float32"). Two models share a fingerprint exactly when a delta of one
 * applies to the other, so decoders compare it with the job's model before reading values.
 * Returns a 0x-prefixed hex string usable as an EIP-712 bytes32.
 */
export function modelFingerprint(specs: readonly TensorSpec[]): `0x${string}` {
  return `0x${toHex(modelFingerprintBytes(specs))}`;
}

/**
 * Recent fingerprints by their canonical text: every delta of a job carries the same tensor table,
 * and the orchestrator decodes one per submission; a lookup costs far less than a sha256 in JS.
 */
const recent = new Map<string, Uint8Array>();
const RECENT_MAX = 64;

/** Same as modelFingerprint, as 32 raw bytes. */
export function modelFingerprintBytes(specs: readonly TensorSpec[]): Uint8Array {
  // Tabs and newlines cannot be confused with the fields: names are checked for them at encode.
  const canonical =
    "dat-model-fingerprint-v1\n" +
    specs.map((s) => `${s.name}\t${s.dtype ?? "float32"}\t${s.shape.join(",")}\n`).join("");
  let digest = recent.get(canonical);
  if (!digest) {
    digest = sha256(new TextEncoder().encode(canonical));
    if (recent.size >= RECENT_MAX) recent.delete(recent.keys().next().value!);
    recent.set(canonical, digest);
  }
  // A copy: callers own what they get (the cached digest must not change under them).
  return digest.slice();
}
