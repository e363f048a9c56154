import { describe, expect, it } from "vitest";
import { decodeDelta, encodeDelta, HEADER_BYTES } from "../../../src/core/delta/index.js";
import { MalformedInputError } from "../../../src/core/errors.js";
import { rng, smallModelDelta } from "./helpers.js";

const MAX_ELEMENTS = 1 << 20;

/** Decodes and checks the only allowed outcomes: a bounded delta or a typed error. */
function decodeSafely(bytes: Uint8Array): "ok" | string {
  try {
    const out = decodeDelta(bytes, { maxElements: MAX_ELEMENTS });
    const elements = out.tensors.reduce((n, t) => n + t.data.length, 0);
    expect(elements).toBeLessThanOrEqual(MAX_ELEMENTS);
    if (out.encoding !== "topk") expect(elements).toBeLessThanOrEqual(bytes.length);
    let nonFinite = 0;
    for (const t of out.tensors) for (const x of t.data) if (!Number.isFinite(x)) nonFinite++;
    expect(nonFinite).toBe(0);
    return "ok";
  } catch (error) {
    if (!(error instanceof MalformedInputError)) throw error;
    expect(error.code).toMatch(/^DELTA_[A-Z_]+$/);
    return error.code;
  }
}

const seeds = ["float32", "float16", "int8", "int8:16", "topk:0.2"].map((encoding) => ({
  encoding,
  bytes: encodeDelta({ sampleCount: 42, tensors: smallModelDelta(11) }, { encoding }).bytes,
}));

describe("decodeDelta fuzzing (never crashes, never hangs, typed errors only, bounded allocation)", () => {
  it("every truncation of every encoding", () => {
    for (const { bytes } of seeds) {
      for (let cut = 0; cut < bytes.length; cut++) expect(["DELTA_TRUNCATED", "DELTA_SIZE_MISMATCH", "DELTA_BAD_MAGIC"]).toContain(decodeSafely(bytes.subarray(0, cut)));
    }
  });

  it("single and multiple random bit flips", () => {
    const next = rng(2024);
    const codes = new Set<string>();
    for (const { bytes } of seeds) {
      for (let i = 0; i < 1500; i++) {
        const b = bytes.slice();
        const flips = 1 + Math.floor(next() * 4);
        // Bias half of the flips into the header and table, where the parsing logic lives.
        for (let f = 0; f < flips; f++) {
          const limit = next() < 0.5 ? Math.min(b.length, HEADER_BYTES + 120) : b.length;
          const at = Math.floor(next() * limit);
          b[at] ^= 1 << Math.floor(next() * 8);
        }
        codes.add(decodeSafely(b));
      }
    }
    expect(codes.size).toBeGreaterThan(3);
  });

  it("random bytes, with and without a valid magic and version", () => {
    const next = rng(7);
    for (let i = 0; i < 3000; i++) {
      const len = Math.floor(next() * 400);
      const b = new Uint8Array(len).map(() => Math.floor(next() * 256));
      if (i % 2 === 0 && len >= 8) {
        b.set([0x44, 0x41, 0x54, 0x44, 1, 0, Math.floor(next() * 6), 0]);
        if (len >= 64) b.fill(0, 60, 64);
      }
      decodeSafely(b);
    }
  });

  it("hostile headers declaring huge counts and tables are refused without allocating them", () => {
    const next = rng(99);
    for (let i = 0; i < 2000; i++) {
      const b = seeds[i % seeds.length].bytes.slice();
      const v = new DataView(b.buffer);
      const field = [48, 52, 56][i % 3];
      v.setUint32(field, next() < 0.5 ? 0xffffffff - Math.floor(next() * 16) : Math.floor(next() * 4096), true);
      decodeSafely(b);
    }
  });
});
