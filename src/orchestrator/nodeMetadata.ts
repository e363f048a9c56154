/** The hash that binds a node's metadata (hardware, backend, version) into its signed registration. */
import { createHash } from "node:crypto";
import type { Hex } from "./types.js";

/** Canonical JSON: object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.keys(value as object).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

/** sha256 of the canonical JSON of the metadata, as bytes32 hex. */
export function hashNodeMetadata(metadata: Record<string, unknown>): Hex {
  return `0x${createHash("sha256").update(canonicalJson(metadata)).digest("hex")}`;
}
