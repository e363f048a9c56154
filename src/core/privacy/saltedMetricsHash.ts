import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";

/** A metrics value that can be hashed: numbers must be finite. */
export type MetricsValue = number | string | boolean | null | readonly MetricsValue[] | { readonly [key: string]: MetricsValue };

/**
 * HMAC-SHA256 of the canonical JSON of `metrics` (object keys sorted at every level) keyed by
 * `salt`, as 0x-prefixed lower-case hex. An unsalted hash of a few training numbers (loss,
 * accuracy, sample count) can be inverted by trying likely values; with a secret salt of at least
 * 16 random bytes, kept by the contributor and revealed only to audit, the hash commits to the
 * metrics without disclosing them. Pure computation (no I/O).
 * @throws RangeError when the salt is shorter than 16 bytes or a number is not finite.
 */
export function saltedMetricsHash(metrics: { readonly [key: string]: MetricsValue }, salt: Uint8Array): `0x${string}` {
  if (!(salt instanceof Uint8Array) || salt.length < 16) {
    throw new RangeError(`salt must be at least 16 random bytes, got ${salt instanceof Uint8Array ? salt.length : typeof salt}`);
  }
  return `0x${bytesToHex(hmac(sha256, salt, utf8ToBytes(canonicalJson(metrics))))}`;
}

/** JSON with object keys sorted, so equal metrics hash equally whatever their key order. */
export function canonicalJson(value: MetricsValue): string {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new RangeError(`metrics must be finite numbers, got ${value}`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v as MetricsValue)).join(",")}]`;
  if (typeof value === "object") {
    const entries = Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, MetricsValue>)[k])}`);
    return `{${entries.join(",")}}`;
  }
  throw new RangeError(`metrics values must be JSON values, got ${typeof value}`);
}
