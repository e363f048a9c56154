import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { resolveBackend } from "../../src/train/backends.js";
import { allocateSharedFloats, updateSlice } from "../../src/train/parallel/shared.js";
import { createRng } from "../../src/train/rng.js";
import { kernelModuleBytes, simdKernels } from "../../src/train/simdKernels.js";
import { transpose2d } from "../../src/train/wasmHeapKernels.js";

function randomFill(a: Float32Array, seed: number): void {
  const rng = createRng(seed);
  for (let i = 0; i < a.length; i++) a[i] = rng.next() * 2 - 1;
}

describe("the SIMD wasm kernels", () => {
  it("assemble into modules this runtime validates, for a shared memory and for a plain one", () => {
    expect(WebAssembly.validate(kernelModuleBytes(true))).toBe(true);
    expect(WebAssembly.validate(kernelModuleBytes(false))).toBe(true);
  });

  describe("sgd2 on a shared memory", () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    const kernels = simdKernels(memory)!;
    const n = 1000;
    const w = new Float32Array(memory.buffer, 0, n);
    const g0 = new Float32Array(memory.buffer, 4 * n + 4, n); // not 16-byte aligned
    const g1 = new Float32Array(memory.buffer, 8 * n + 16, n);

    it("computes w + step·(g0·s0 + g1·s1) in float32, op by op, over exactly [lo, lo + count)", () => {
      // Prepare
      randomFill(w, 1);
      randomFill(g0, 2);
      randomFill(g1, 3);
      const before = Float32Array.from(w);
      const f = Math.fround;
      const [s0, s1, step] = [f(0.375), f(0.625), f(-0.05)];
      // Act
      kernels.sgd2(w, g0, g1, 13, 800, s0, s1, step);
      // Assert: each product and sum rounded to float32, as wasm's f32x4 arithmetic does.
      for (let j = 0; j < n; j++) {
        const want = j >= 13 && j < 813 ? f(before[j] + f(f(f(g0[j] * s0) + f(g1[j] * s1)) * step)) : before[j];
        if (w[j] !== want) expect.fail(`w[${j}] = ${w[j]}, want ${want}`);
      }
    });

    it("refuses a count that is not a multiple of 4, a range past the arrays, and arrays outside its memory", () => {
      expect(() => kernels.sgd2(w, g0, g1, 0, 6, 1, 1, 1)).toThrow(/bad range/);
      expect(() => kernels.sgd2(w, g0, g1, 998, 4, 1, 1, 1)).toThrow(/bad range/);
      expect(() => kernels.sgd2(new Float32Array(n), g0, g1, 0, 4, 1, 1, 1)).toThrow(/not in its memory/);
    });
  });

  describe("transpose on the wasm backend's heap", () => {
    beforeAll(async () => {
      await resolveBackend("wasm");
    });

    it("gives tfjs's transpose exactly, for the dense kernel's shape and small ones, and rows or columns not in blocks of 4", () => {
      for (const [rows, cols] of [
        [4096, 256],
        [16, 4096],
        [4, 4],
        [8, 12],
        [6, 8],
        [5, 3],
      ]) {
        tf.tidy(() => {
          const x = tf.randomNormal([rows, cols], 0, 1, "float32", rows * 7 + cols) as tf.Tensor2D;
          const got = transpose2d(x);
          expect(got.shape).toEqual([cols, rows]);
          expect(Array.from(got.dataSync())).toEqual(Array.from(tf.transpose(x).dataSync()));
        });
      }
    });

    it("refuses shapes not in 4×4 blocks", () => {
      const memory = new WebAssembly.Memory({ initial: 1 });
      const a = new Float32Array(memory.buffer, 0, 64);
      expect(() => simdKernels(memory)!.transpose(a, new Float32Array(memory.buffer, 256, 64), 6, 8)).toThrow(/4×4 blocks/);
      expect(() => simdKernels(memory)!.transpose(a, a, 8, 12)).toThrow(/shorter/);
    });
  });
});

describe("the parallel step's slice update", () => {
  it("gives the JavaScript loop's weights with the SIMD kernel (two threads, plain SGD), on a slice whose ends are not multiples of 4", () => {
    // Prepare: the same values in a shared wasm memory (SIMD) and in plain shared buffers (JavaScript).
    const total = 10_003;
    const simd = allocateSharedFloats(total, 2);
    expect(simd.memory).toBeDefined();
    const plain = { weights: new Float32Array(total), targets: new Float32Array(total), grads: [new Float32Array(total), new Float32Array(total)] };
    for (const [i, b] of [simd, plain].entries()) {
      randomFill(b.weights, 5);
      randomFill(b.grads[0], 6);
      randomFill(b.grads[1], 7);
      randomFill(b.targets, i + 8); // unused without FedProx
    }
    // Act
    updateSlice(simd, "sgd", [15, 17], 0.05, 0, 3, 9_998);
    updateSlice(plain, "sgd", [15, 17], 0.05, 0, 3, 9_998);
    // Assert: float32 rounding of the products apart, the same update; nothing outside the slice moved.
    let worst = 0;
    for (let j = 0; j < total; j++) worst = Math.max(worst, Math.abs(simd.weights[j] - plain.weights[j]));
    expect(worst).toBeLessThanOrEqual(2 * 2 ** -23); // two float32 ulps at |w| ≤ 1
    for (const j of [0, 1, 2, 9_998, 10_002]) expect(simd.weights[j]).toBe(plain.weights[j]);
  });

  it("lays every thread's buffers out apart in the shared memory", () => {
    const buffers = allocateSharedFloats(1001, 3);
    const arrays = [buffers.weights, buffers.targets, ...buffers.grads];
    arrays.forEach((a, i) => a.fill(i + 1));
    arrays.forEach((a, i) => expect(a.every((v) => v === i + 1)).toBe(true));
    arrays.forEach((a) => expect(a.byteOffset % 16).toBe(0));
  });
});
