import { describe, expect, it } from "vitest";
import { MalformedInputError } from "../../../src/core/errors.js";
import { decodeDelta, encodeDelta, HEADER_BYTES, modelFingerprint, modelFingerprintBytes, parseEncoding } from "../../../src/core/delta/index.js";
import { smallModelDelta } from "./helpers.js";

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(MalformedInputError);
    return (error as MalformedInputError).code;
  }
  throw new Error("expected a MalformedInputError");
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const x of a) m = Math.max(m, Math.abs(x));
  return m;
}

describe("modelFingerprint", () => {
  it("depends on names, shapes and dtypes, and on nothing else", () => {
    const base = [{ name: "a", shape: [2, 3] }, { name: "b", shape: [3] }];
    const fp = modelFingerprint(base);

    expect(fp).toMatch(/^0x[0-9a-f]{64}$/);
    expect(modelFingerprint([{ name: "a", shape: [2, 3], dtype: "float32" }, { name: "b", shape: [3] }])).toBe(fp);
    expect(modelFingerprint([{ name: "a", shape: [3, 2] }, { name: "b", shape: [3] }])).not.toBe(fp);
    expect(modelFingerprint([{ name: "a2", shape: [2, 3] }, { name: "b", shape: [3] }])).not.toBe(fp);
    expect(modelFingerprint([{ name: "a", shape: [2, 3], dtype: "int32" }, { name: "b", shape: [3] }])).not.toBe(fp);
    expect(modelFingerprint([...base].reverse())).not.toBe(fp);
  });
});

describe("encodeDelta / decodeDelta round trips", () => {
  const tensors = smallModelDelta(7);
  const fingerprint = modelFingerprint(tensors);

  it("float32 is bit-exact and keeps names, shapes, sample count and fingerprint", () => {
    const { bytes } = encodeDelta({ sampleCount: 123, tensors }, { encoding: "float32" });

    const out = decodeDelta(bytes, { expectedFingerprint: fingerprint });

    expect(out.fingerprint).toBe(fingerprint);
    expect(out.sampleCount).toBe(123);
    expect(out.encoding).toBe("float32");
    expect(out.tensors.map((t) => [t.name, t.shape, t.dtype])).toEqual(tensors.map((t) => [t.name, t.shape, "float32"]));
    out.tensors.forEach((t, i) => expect(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(tensors[i].data.buffer))).toBe(true));
  });

  it("float32 decodes from an unaligned view of the bytes", () => {
    const { bytes } = encodeDelta({ sampleCount: 1, tensors });
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);

    const out = decodeDelta(shifted.subarray(3));

    out.tensors.forEach((t, i) => expect(Array.from(t.data)).toEqual(Array.from(tensors[i].data)));
  });

  it("float32 views aligned payloads in place, and copies them with options.copy", () => {
    const { bytes } = encodeDelta({ sampleCount: 1, tensors });

    const viewed = decodeDelta(bytes);
    const copied = decodeDelta(bytes, { copy: true });

    viewed.tensors.forEach((t) => expect(t.data.buffer).toBe(bytes.buffer));
    copied.tensors.forEach((t, i) => {
      expect(t.data.buffer).not.toBe(bytes.buffer);
      expect(Array.from(t.data)).toEqual(Array.from(tensors[i].data));
    });
    expect(copied.norm).toBe(viewed.norm);
  });

  it("float16 stays within a relative error of 2^-11 (plus 2^-25 absolute)", () => {
    const out = decodeDelta(encodeDelta({ sampleCount: 5, tensors }, { encoding: "float16" }).bytes);

    expect(out.encoding).toBe("float16");
    out.tensors.forEach((t, i) =>
      t.data.forEach((x, j) => {
        const y = tensors[i].data[j];
        expect(Math.abs(x - y)).toBeLessThanOrEqual(Math.abs(y) * 2 ** -11 + 2 ** -25);
      }),
    );
  });

  it("float16 rounds exactly representable and special values correctly", () => {
    const data = new Float32Array([0, -0, 1, -2, 65504, 2 ** -24, 0.5, 1 / 3]);
    const out = decodeDelta(encodeDelta({ sampleCount: 0, tensors: [{ name: "x", shape: [8], data }] }, { encoding: "float16" }).bytes);

    expect(Array.from(out.tensors[0].data.subarray(0, 7))).toEqual([0, -0, 1, -2, 65504, 2 ** -24, 0.5]);
    expect(out.tensors[0].data[7]).toBeCloseTo(1 / 3, 3);
  });

  it.each(["int8", "int8:64", "int8:1"])("%s stays within half a quantization step", (encoding) => {
    const block = encoding === "int8" ? Infinity : Number(encoding.split(":")[1]);

    const out = decodeDelta(encodeDelta({ sampleCount: 9, tensors }, { encoding }).bytes);

    expect(out.encoding).toBe(encoding);
    out.tensors.forEach((t, i) => {
      const src = tensors[i].data;
      t.data.forEach((x, j) => {
        const start = block === Infinity ? 0 : Math.floor(j / block) * block;
        const end = block === Infinity ? src.length : Math.min(src.length, start + block);
        const step = maxAbs(src.subarray(start, end)) / 127;
        expect(Math.abs(x - src[j])).toBeLessThanOrEqual(step / 2 + 1e-9);
      });
    });
  });

  it("int8 per tensor is at most 26% of float32's size on a large tensor", () => {
    const big = [{ name: "w", shape: [1000, 100], data: new Float32Array(100_000).fill(0.5) }];
    const f32 = encodeDelta({ sampleCount: 1, tensors: big }).bytes.length;

    expect(encodeDelta({ sampleCount: 1, tensors: big }, { encoding: "int8" }).bytes.length / f32).toBeLessThanOrEqual(0.26);
    expect(encodeDelta({ sampleCount: 1, tensors: big }, { encoding: "int8:1024" }).bytes.length / f32).toBeLessThanOrEqual(0.26);
  });

  it("all-zero tensors, scalars and empty tensors survive every encoding", () => {
    const odd = [
      { name: "zero", shape: [3], data: new Float32Array(3) },
      { name: "scalar", shape: [], data: new Float32Array([0.25]) },
      { name: "empty", shape: [0, 4], data: new Float32Array(0) },
    ];
    for (const encoding of ["float32", "float16", "int8", "int8:2", "topk:0.5"]) {
      const out = decodeDelta(encodeDelta({ sampleCount: 2, tensors: odd }, { encoding }).bytes);

      expect(out.tensors.map((t) => t.shape)).toEqual([[3], [], [0, 4]]);
      expect(Array.from(out.tensors[0].data)).toEqual([0, 0, 0]);
      expect(out.tensors[1].data[0]).toBe(0.25);
    }
  });

  it("topk sends the largest elements exactly and returns the rest as residual (error feedback)", () => {
    const data = new Float32Array([0.1, -5, 0.2, 3, -0.05, 0.01, 4, -0.3, 0, 2]);
    const input = { sampleCount: 3, tensors: [{ name: "w", shape: [10], data }] };

    const first = encodeDelta(input, { encoding: "topk:0.3" });
    const sent = decodeDelta(first.bytes).tensors[0].data;

    expect(Array.from(sent)).toEqual([0, -5, 0, 3, 0, 0, 4, 0, 0, 0]);
    expect(first.residual![0][9]).toBeCloseTo(2);
    // sent + residual reproduces the input exactly: nothing is lost, only delayed.
    sent.forEach((x, i) => expect(x + first.residual![0][i]).toBe(data[i]));

    const second = encodeDelta({ sampleCount: 3, tensors: [{ name: "w", shape: [10], data: new Float32Array(10) }] }, { encoding: "topk:0.1", residual: first.residual });
    expect(Array.from(decodeDelta(second.bytes).tensors[0].data)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, Math.fround(2)]);
  });

  it("topk over a large tensor keeps exactly ceil(F·n) elements of the largest magnitudes", () => {
    const n = 10_000;
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = ((i * 7919) % n) / n - 0.5;

    const { bytes, residual } = encodeDelta({ sampleCount: 1, tensors: [{ name: "w", shape: [n], data }] }, { encoding: "topk:0.01" });
    const sent = decodeDelta(bytes).tensors[0].data;

    const kept = sent.filter((x) => x !== 0);
    expect(kept.length).toBe(100);
    expect(Math.min(...Array.from(kept, Math.abs))).toBeGreaterThanOrEqual(maxAbs(residual![0]));
  });
});

describe("encodeDelta rejects bad input", () => {
  it("refuses NaN and ±Inf in every encoding", () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      for (const encoding of ["float32", "float16", "int8", "int8:4", "topk:0.5"]) {
        const tensors = [{ name: "w", shape: [3], data: new Float32Array([1, bad, 2]) }];
        expect(codeOf(() => encodeDelta({ sampleCount: 1, tensors }, { encoding }))).toBe("DELTA_NON_FINITE");
      }
    }
  });

  it("refuses data that does not match its shape, a wrong fingerprint and unknown encodings", () => {
    const tensors = [{ name: "w", shape: [4], data: new Float32Array(3) }];
    expect(codeOf(() => encodeDelta({ sampleCount: 1, tensors }))).toBe("DELTA_SIZE_MISMATCH");
    const ok = smallModelDelta();
    expect(codeOf(() => encodeDelta({ sampleCount: 1, tensors: ok, fingerprint: `0x${"00".repeat(32)}` }))).toBe("DELTA_FINGERPRINT_MISMATCH");
    for (const spec of ["float64", "int8:0", "int8:x", "topk:0", "topk:1.5", "topk:"]) {
      expect(() => parseEncoding(spec)).toThrow(/Unknown delta encoding/);
    }
  });
});

describe("decodeDelta rejects malformed blobs with stable codes", () => {
  const tensors = smallModelDelta(3);
  const good = () => encodeDelta({ sampleCount: 10, tensors }).bytes;
  const patch = (fn: (b: Uint8Array, v: DataView) => void) => {
    const b = good();
    fn(b, new DataView(b.buffer));
    return b;
  };

  it("bad magic", () => {
    expect(codeOf(() => decodeDelta(patch((b) => (b[0] = 0x58))))).toBe("DELTA_BAD_MAGIC");
    expect(codeOf(() => decodeDelta(new TextEncoder().encode("{\"json\": true}")))).toBe("DELTA_BAD_MAGIC");
  });

  it("unknown version and unknown encoding", () => {
    expect(codeOf(() => decodeDelta(patch((_, v) => v.setUint16(4, 2, true))))).toBe("DELTA_UNSUPPORTED_VERSION");
    expect(codeOf(() => decodeDelta(patch((_, v) => v.setUint8(6, 9))))).toBe("DELTA_BAD_ENCODING");
  });

  it("truncated anywhere, including empty input", () => {
    const bytes = good();
    expect(codeOf(() => decodeDelta(new Uint8Array(0)))).toBe("DELTA_TRUNCATED");
    for (const cut of [3, HEADER_BYTES - 1, HEADER_BYTES + 5, bytes.length - 1]) {
      expect(["DELTA_TRUNCATED", "DELTA_SIZE_MISMATCH"]).toContain(codeOf(() => decodeDelta(bytes.subarray(0, cut))));
    }
  });

  it("declared sizes inconsistent with the byte length, without allocating them", () => {
    expect(codeOf(() => decodeDelta(patch((_, v) => v.setUint32(48, 0xffffffff, true))))).toBe("DELTA_SIZE_MISMATCH");
    expect(codeOf(() => decodeDelta(patch((_, v) => v.setUint32(56, 0x7fffffff, true))))).toBe("DELTA_TRUNCATED");
    const trailing = new Uint8Array(good().length + 8);
    trailing.set(good());
    expect(codeOf(() => decodeDelta(trailing))).toBe("DELTA_SIZE_MISMATCH");
  });

  it("a tensor table that was edited no longer matches the header fingerprint", () => {
    // First dimension of the first tensor: 16 → 17.
    const nameLen = "dense_1/kernel".length;
    const dimAt = HEADER_BYTES + 2 + nameLen + 1 + "float32".length + 1;
    expect(codeOf(() => decodeDelta(patch((_, v) => v.setUint32(dimAt, 17, true))))).toBe("DELTA_MALFORMED");
  });

  it("huge declared shapes fail before allocation (dense and top-k)", () => {
    const nameLen = "dense_1/kernel".length;
    const dimAt = HEADER_BYTES + 2 + nameLen + 1 + "float32".length + 1;
    expect(["DELTA_MALFORMED", "DELTA_TRUNCATED"]).toContain(codeOf(() => decodeDelta(patch((_, v) => v.setUint32(dimAt, 0xffffffff, true)))));
    // A top-k blob whose dense shape claims 2^32·2^32 values, with a self-consistent fingerprint.
    const sparse = encodeDelta({ sampleCount: 1, tensors: [{ name: "w", shape: [1, 1], data: new Float32Array(1) }] }, { encoding: "topk:1" }).bytes;
    const sv = new DataView(sparse.buffer);
    const at = HEADER_BYTES + 2 + 1 + 1 + "float32".length + 1;
    sv.setUint32(at, 0xffffffff, true);
    sv.setUint32(at + 4, 0xffffffff, true);
    sparse.set(modelFingerprintBytes([{ name: "w", shape: [0xffffffff, 0xffffffff] }]), 8);
    expect(codeOf(() => decodeDelta(sparse))).toBe("DELTA_TOO_LARGE");
  });

  it("fingerprint of another model", () => {
    const other = modelFingerprint([{ name: "x", shape: [1] }]);
    expect(codeOf(() => decodeDelta(good(), { expectedFingerprint: other }))).toBe("DELTA_FINGERPRINT_MISMATCH");
  });

  it("NaN or ±Inf values", () => {
    const firstPayload = (b: Uint8Array) => {
      // The first payload starts at the first 8-aligned offset after the table.
      const table = new DataView(b.buffer).getUint32(56, true);
      return Math.ceil((HEADER_BYTES + table) / 8) * 8;
    };
    for (const bad of [NaN, Infinity, -Infinity]) {
      expect(codeOf(() => decodeDelta(patch((b, v) => v.setFloat32(firstPayload(b), bad, true))))).toBe("DELTA_NON_FINITE");
    }
    const q = encodeDelta({ sampleCount: 1, tensors }, { encoding: "int8" }).bytes;
    new DataView(q.buffer).setFloat32(firstPayload(q), NaN, true);
    expect(codeOf(() => decodeDelta(q))).toBe("DELTA_NON_FINITE");
  });

  it("norm above the job's bound, with a small tolerance for quantization", () => {
    const norm = Math.sqrt(tensors.reduce((s, t) => s + t.data.reduce((a, x) => a + x * x, 0), 0));

    expect(decodeDelta(good(), { maxNorm: norm }).norm).toBeCloseTo(norm, 6);
    expect(codeOf(() => decodeDelta(good(), { maxNorm: norm * 0.9 }))).toBe("DELTA_NORM_EXCEEDED");
  });

  it("blobs above maxBytes and top-k deltas above maxElements", () => {
    expect(codeOf(() => decodeDelta(good(), { maxBytes: 100 }))).toBe("DELTA_TOO_LARGE");
    const sparse = encodeDelta({ sampleCount: 1, tensors: [{ name: "w", shape: [1000], data: new Float32Array(1000) }] }, { encoding: "topk:0.001" }).bytes;
    expect(codeOf(() => decodeDelta(sparse, { maxElements: 999 }))).toBe("DELTA_TOO_LARGE");
  });

  it("top-k indices out of order or out of range", () => {
    const data = new Float32Array([5, 0, 0, 4]);
    const bytes = encodeDelta({ sampleCount: 1, tensors: [{ name: "w", shape: [4], data }] }, { encoding: "topk:0.5" }).bytes;
    const table = new DataView(bytes.buffer).getUint32(56, true);
    const at = Math.ceil((HEADER_BYTES + table) / 8) * 8;
    const swapped = bytes.slice();
    new DataView(swapped.buffer).setUint32(at + 4, 3, true);
    new DataView(swapped.buffer).setUint32(at + 8, 0, true);
    expect(codeOf(() => decodeDelta(swapped))).toBe("DELTA_MALFORMED");
    const outOfRange = bytes.slice();
    new DataView(outOfRange.buffer).setUint32(at + 8, 4, true);
    expect(codeOf(() => decodeDelta(outOfRange))).toBe("DELTA_MALFORMED");
  });
});
