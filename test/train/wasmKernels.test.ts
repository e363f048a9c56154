import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { resolveBackend } from "../../src/train/backends.js";
import { createRng } from "../../src/train/rng.js";
import { flippedFilter } from "../../src/train/wasmHeapKernels.js";
import { WASM_REPLACED_KERNELS, WASM_TRAINING_KERNELS } from "../../src/train/wasmKernels.js";

type Inputs = Record<string, { data: Float32Array | Int32Array; shape: number[]; dtype: "float32" | "int32" }>;

function random(shape: number[], seed: number): { data: Float32Array; shape: number[]; dtype: "float32" } {
  const rng = createRng(seed);
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => rng.normal());
  return { data, shape, dtype: "float32" };
}

/** Run one kernel on a backend with fresh input tensors; return its values and shape. */
async function runOn(backend: string, kernel: string, inputs: Inputs, attrs: Record<string, unknown>): Promise<{ values: Float32Array; shape: number[] }> {
  await tf.setBackend(backend);
  const tensors: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(inputs)) tensors[k] = tf.tensor(v.data, v.shape, v.dtype);
  const out = tf.engine().runKernel(kernel, tensors as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as tf.Tensor;
  const values = Float32Array.from(await out.data());
  const shape = [...out.shape];
  out.dispose();
  Object.values(tensors).forEach((t) => t.dispose());
  return { values, shape };
}

async function expectSameAsCpu(kernel: string, inputs: Inputs, attrs: Record<string, unknown>): Promise<void> {
  const expected = await runOn("cpu", kernel, inputs, attrs);
  const before = tf.memory().numTensors;
  const actual = await runOn("wasm", kernel, inputs, attrs);
  expect(tf.memory().numTensors).toBe(before);
  expect(actual.shape).toEqual(expected.shape);
  let worst = 0;
  for (let i = 0; i < expected.values.length; i++) {
    worst = Math.max(worst, Math.abs(actual.values[i] - expected.values[i]) / (1 + Math.abs(expected.values[i])));
  }
  expect(worst).toBeLessThan(1e-4);
}

function convOutput(inSize: number, k: number, s: number, d: number, pad: string): number {
  const eff = (k - 1) * d + 1;
  return pad === "same" ? Math.ceil(inSize / s) : Math.ceil((inSize - eff + 1) / s);
}

// The strides, paddings and kernel sizes Keras Conv2D / DepthwiseConv2D layers use. Dilation > 1
// is left out: tfjs's conv gradients refuse it, so these kernels never receive it (nor can the
// plain JS reference compute it).
const convCases: { k: [number, number]; s: [number, number]; d: [number, number]; pad: "same" | "valid" }[] = [
  { k: [3, 3], s: [1, 1], d: [1, 1], pad: "valid" },
  { k: [3, 3], s: [1, 1], d: [1, 1], pad: "same" },
  { k: [3, 3], s: [2, 2], d: [1, 1], pad: "same" },
  { k: [3, 3], s: [2, 2], d: [1, 1], pad: "valid" },
  { k: [5, 5], s: [1, 1], d: [1, 1], pad: "same" },
  { k: [1, 1], s: [1, 1], d: [1, 1], pad: "valid" },
  { k: [1, 1], s: [2, 2], d: [1, 1], pad: "valid" },
  { k: [3, 2], s: [2, 1], d: [1, 1], pad: "same" },
  { k: [2, 2], s: [2, 2], d: [1, 1], pad: "valid" },
];

describe("wasm training kernels match the plain JS backend", () => {
  beforeAll(async () => {
    await resolveBackend("wasm");
  });

  it("registers every kernel wasm lacked", () => {
    const wasm = new Set(tf.getKernelsForBackend("wasm").map((k) => k.kernelName));
    for (const name of WASM_TRAINING_KERNELS) expect(wasm.has(name)).toBe(true);
  });

  for (const c of convCases) {
    const label = `k${c.k.join("x")} s${c.s.join("x")} d${c.d.join("x")} ${c.pad}`;
    it(`Conv2DBackpropFilter ${label}`, async () => {
      const [n, h, w, cin, cout] = [2, 9, 8, 3, 4];
      const oh = convOutput(h, c.k[0], c.s[0], c.d[0], c.pad);
      const ow = convOutput(w, c.k[1], c.s[1], c.d[1], c.pad);
      await expectSameAsCpu(
        "Conv2DBackpropFilter",
        { x: random([n, h, w, cin], 1), dy: random([n, oh, ow, cout], 2) },
        { strides: c.s, pad: c.pad, dataFormat: "NHWC", dimRoundingMode: undefined, filterShape: [c.k[0], c.k[1], cin, cout], dilations: c.d },
      );
    });

    it(`Conv2DBackpropInput (replaced) ${label}`, async () => {
      const [n, h, w, cin, cout] = [2, 9, 8, 3, 4];
      const oh = convOutput(h, c.k[0], c.s[0], 1, c.pad);
      const ow = convOutput(w, c.k[1], c.s[1], 1, c.pad);
      await expectSameAsCpu(
        "Conv2DBackpropInput",
        { dy: random([n, oh, ow, cout], 14), filter: random([c.k[0], c.k[1], cin, cout], 15) },
        { strides: c.s, pad: c.pad, dataFormat: "NHWC", dimRoundingMode: undefined, inputShape: [n, h, w, cin] },
      );
    });

    for (const m of [1, 2]) {
      it(`DepthwiseConv2dNativeBackpropFilter ${label} multiplier ${m}`, async () => {
        const [n, h, w, cin] = [2, 9, 8, 3];
        const oh = convOutput(h, c.k[0], c.s[0], c.d[0], c.pad);
        const ow = convOutput(w, c.k[1], c.s[1], c.d[1], c.pad);
        await expectSameAsCpu(
          "DepthwiseConv2dNativeBackpropFilter",
          { x: random([n, h, w, cin], 3), dy: random([n, oh, ow, cin * m], 4) },
          { strides: c.s, pad: c.pad, dilations: c.d, dimRoundingMode: undefined, filterShape: [c.k[0], c.k[1], cin, m] },
        );
      });

      it(`DepthwiseConv2dNativeBackpropInput ${label} multiplier ${m}`, async () => {
        const [n, h, w, cin] = [2, 9, 8, 3];
        const oh = convOutput(h, c.k[0], c.s[0], c.d[0], c.pad);
        const ow = convOutput(w, c.k[1], c.s[1], c.d[1], c.pad);
        await expectSameAsCpu(
          "DepthwiseConv2dNativeBackpropInput",
          { dy: random([n, oh, ow, cin * m], 5), filter: random([c.k[0], c.k[1], cin, m], 6) },
          { strides: c.s, pad: c.pad, dilations: c.d, dimRoundingMode: undefined, inputShape: [n, h, w, cin] },
        );
      });
    }
  }

  it("replaces wasm's slow Conv2DBackpropInput and MaxPoolGrad", () => {
    expect(WASM_REPLACED_KERNELS).toEqual(["Conv2DBackpropInput", "MaxPoolGrad"]);
  });

  it("flips a filter 180° in space (and swaps its channel axes) as reverse and transpose do on the plain JS backend", async () => {
    for (const shape of [[3, 2, 3, 5], [1, 1, 2, 3], [5, 5, 4, 1]]) {
      // Prepare
      const { data } = random(shape, 21);
      await tf.setBackend("cpu");
      const source = tf.tensor4d(data, shape as [number, number, number, number]);
      const plain = tf.reverse(source, [0, 1]);
      const swapped = tf.transpose(plain, [0, 1, 3, 2]);
      const expected = { plain: [...(await plain.data())], swapped: [...(await swapped.data())], swappedShape: swapped.shape };
      tf.dispose([source, plain, swapped]);
      await tf.setBackend("wasm");
      const filter = tf.tensor4d(data, shape as [number, number, number, number]);

      // Execute
      const flipped = flippedFilter(filter, false);
      const flippedSwapped = flippedFilter(filter, true);

      // Assert: bit for bit (a copy, no arithmetic)
      expect(flipped.shape).toEqual(shape);
      expect([...(await flipped.data())]).toEqual(expected.plain);
      expect(flippedSwapped.shape).toEqual(expected.swappedShape);
      expect([...(await flippedSwapped.data())]).toEqual(expected.swapped);
      tf.dispose([filter, flipped, flippedSwapped]);
    }
  });

  it("Conv2DBackpropInput (replaced) with explicit paddings", async () => {
    await expectSameAsCpu(
      "Conv2DBackpropInput",
      { dy: random([2, 5, 3, 2], 16), filter: random([3, 3, 3, 2], 17) },
      { strides: [2, 2], pad: [[0, 0], [1, 2], [0, 1], [0, 0]], dataFormat: "NHWC", dimRoundingMode: undefined, inputShape: [2, 9, 7, 3] },
    );
  });

  const poolCases: { f: [number, number]; s: [number, number]; pad: "same" | "valid" }[] = [
    { f: [2, 2], s: [2, 2], pad: "valid" },
    { f: [2, 2], s: [2, 2], pad: "same" },
    { f: [3, 3], s: [2, 2], pad: "same" },
    { f: [3, 3], s: [1, 1], pad: "valid" },
    { f: [3, 2], s: [2, 1], pad: "same" },
  ];
  for (const c of poolCases) {
    it(`MaxPoolGrad (replaced) f${c.f.join("x")} s${c.s.join("x")} ${c.pad}`, async () => {
      const [n, h, w, ch] = [2, 9, 8, 3];
      // Half the inputs are exactly 0 (as after a ReLU): ties must go to the first maximum.
      const x = random([n, h, w, ch], 18);
      x.data.forEach((v, i) => (x.data[i] = Math.max(0, v)));
      const oh = convOutput(h, c.f[0], c.s[0], 1, c.pad);
      const ow = convOutput(w, c.f[1], c.s[1], 1, c.pad);
      await tf.setBackend("cpu");
      const y = tf.tidy(() => tf.maxPool(tf.tensor4d(x.data, x.shape as [number, number, number, number]), c.f, c.s, c.pad));
      const output = { data: Float32Array.from(y.dataSync()), shape: [...y.shape], dtype: "float32" as const };
      y.dispose();
      expect(output.shape).toEqual([n, oh, ow, ch]);
      await expectSameAsCpu("MaxPoolGrad", { dy: random([n, oh, ow, ch], 19), input: x, output }, { filterSize: c.f, strides: c.s, pad: c.pad, dimRoundingMode: undefined });
    });
  }

  it("MaxPoolGrad (replaced) with NaN and -Infinity windows", async () => {
    const x = random([1, 4, 4, 1], 20);
    x.data[0] = Number.NaN;
    x.data.fill(Number.NEGATIVE_INFINITY, 10, 12);
    x.data.fill(Number.NEGATIVE_INFINITY, 14, 16);
    await tf.setBackend("cpu");
    const y = tf.tidy(() => tf.maxPool(tf.tensor4d(x.data, x.shape as [number, number, number, number]), 2, 2, "valid"));
    const output = { data: Float32Array.from(y.dataSync()), shape: [...y.shape], dtype: "float32" as const };
    y.dispose();
    await expectSameAsCpu("MaxPoolGrad", { dy: random([1, 2, 2, 1], 21), input: x, output }, { filterSize: 2, strides: 2, pad: "valid", dimRoundingMode: undefined });
  });

  it("Conv2DBackpropFilter on a one-channel input", async () => {
    for (const c of convCases) {
      const [n, h, w, cout] = [2, 9, 8, 4];
      const oh = convOutput(h, c.k[0], c.s[0], 1, c.pad);
      const ow = convOutput(w, c.k[1], c.s[1], 1, c.pad);
      await expectSameAsCpu(
        "Conv2DBackpropFilter",
        { x: random([n, h, w, 1], 22), dy: random([n, oh, ow, cout], 23) },
        { strides: c.s, pad: c.pad, dataFormat: "NHWC", dimRoundingMode: undefined, filterShape: [c.k[0], c.k[1], 1, cout], dilations: 1 },
      );
    }
  });

  it("UnsortedSegmentSum with repeated, empty and out-of-range ids", async () => {
    const ids = new Int32Array([0, 3, 3, 1, 0, 7, -1]);
    await expectSameAsCpu("UnsortedSegmentSum", { x: random([7, 5], 7), segmentIds: { data: ids, shape: [7], dtype: "int32" } }, { numSegments: 5 });
    await expectSameAsCpu(
      "UnsortedSegmentSum",
      { x: random([6, 3, 2], 8), segmentIds: { data: new Int32Array([1, 1, 0, 2, 1, 0]), shape: [6], dtype: "int32" } },
      { numSegments: 3 },
    );
  });

  // The plain JS backend has no BroadcastTo or LogSoftmax kernels: compare with its ops instead.
  async function expectKernelMatchesCpuOp(kernel: string, inputs: Inputs, attrs: Record<string, unknown>, op: (t: tf.Tensor) => tf.Tensor): Promise<void> {
    await tf.setBackend("cpu");
    const [name, spec] = Object.entries(inputs)[0];
    const ref = tf.tidy(() => op(tf.tensor(spec.data, spec.shape, spec.dtype)));
    const expected = { values: Float32Array.from(ref.dataSync()), shape: [...ref.shape] };
    ref.dispose();
    const actual = await runOn("wasm", kernel, { [name]: spec }, attrs);
    expect(actual.shape).toEqual(expected.shape);
    expected.values.forEach((v, i) => expect(actual.values[i]).toBeCloseTo(v, 5));
  }

  it("BroadcastTo across added and size-1 dimensions", async () => {
    for (const [shape, to] of [[[3, 1], [2, 3, 4]], [[4], [3, 4]], [[2, 3], [2, 3]]] as [number[], number[]][]) {
      await expectKernelMatchesCpuOp("BroadcastTo", { x: random(shape, 9) }, { shape: to }, (t) => tf.broadcastTo(t, to));
    }
  });

  it("LogSoftmax on the last axis", async () => {
    await expectKernelMatchesCpuOp("LogSoftmax", { logits: random([4, 10], 12) }, { axis: -1 }, (t) => tf.logSoftmax(t, -1));
    await expectKernelMatchesCpuOp("LogSoftmax", { logits: random([3, 5, 2], 13) }, { axis: -1 }, (t) => tf.logSoftmax(t, -1));
  });

  it("an Embedding model trains on wasm through the UnsortedSegmentSum gradient", async () => {
    await tf.setBackend("wasm");
    const model = tf.sequential({
      layers: [tf.layers.embedding({ inputDim: 20, outputDim: 4, inputLength: 3 }), tf.layers.flatten(), tf.layers.dense({ units: 2, activation: "softmax" })],
    });
    model.compile({ optimizer: "adam", loss: "sparseCategoricalCrossentropy" });
    const xs = tf.tensor2d([[1, 2, 3], [4, 5, 6], [1, 1, 2], [7, 8, 9]]);
    const ys = tf.tensor1d([0, 1, 0, 1]);
    const history = await model.fit(xs, ys, { epochs: 2, verbose: 0 });
    expect(Number.isFinite(history.history.loss[1] as number)).toBe(true);
    tf.dispose([xs, ys]);
    model.dispose();
  });
});
