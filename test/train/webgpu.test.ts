/**
 * WebGPU trains what wasm trains, to the same delta. Runs on whatever adapter Dawn finds: in CI
 * that is Mesa's lavapipe (software Vulkan), installed by .ci/run; where none is found the suite is
 * skipped and the reason printed.
 */
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { probeBackends, resolveBackend } from "../../src/train/backends.js";
import { syntheticDigits, syntheticTabular } from "../../src/train/data/synthetic.js";
import { loadModelDir } from "../../src/train/modelIo.js";
import { evaluate, trainLocal, type TrainLocalOptions } from "../../src/train/trainLocal.js";

const fixtures = path.resolve(__dirname, "../../fixtures");
const probe = (await probeBackends({ allowSoftwareGpu: true })).find((r) => r.name === "webgpu")!;
if (!probe.available) console.warn(`[webgpu tests skipped] ${probe.reason}${probe.hint ? ` — ${probe.hint}` : ""}`);
else console.warn(`[webgpu tests] adapter: ${probe.detail}`);

type Case = { fixture: string; data: () => TrainLocalOptions["data"] } & Omit<TrainLocalOptions, "model" | "data">;

async function trainOn(backend: "wasm" | "webgpu", c: Case) {
  await resolveBackend(backend, { allowSoftwareGpu: true });
  const model = await loadModelDir(path.join(fixtures, c.fixture));
  const { fixture: _f, data, ...options } = c;
  const result = await trainLocal({ ...options, model, data: data() });
  const evaluation = await evaluate(model, data());
  model.dispose();
  return { result, evaluation, backend: tf.getBackend() };
}

function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  let max = 0;
  a.forEach((x, i) => x.forEach((v, k) => (max = Math.max(max, Math.abs(v - b[i][k])))));
  return max;
}

describe.skipIf(!probe.available)("training on WebGPU", () => {
  const cases: [string, Case][] = [
    ["MLP (tabular, SGD, validation split)", { fixture: "mlp-tabular", data: () => syntheticTabular({ count: 200, seed: 4 }), epochs: 2, batchSize: 16, lr: 0.05, seed: 5, valSplit: 0.2 }],
    ["MLP (digits, Adam, FedProx)", { fixture: "mlp-digits", data: () => syntheticDigits({ count: 96, seed: 1 }), epochs: 1, batchSize: 32, lr: 0.003, optimizer: "adam", mu: 0.01, seed: 2 }],
    ["CNN (digits, Adam)", { fixture: "cnn-digits", data: () => syntheticDigits({ count: 64, seed: 6 }), epochs: 1, batchSize: 32, lr: 0.003, optimizer: "adam", seed: 7 }],
  ];

  it.each(cases)("%s: delta equals wasm's within 1e-5", async (_name, c) => {
    // Execute
    const wasm = await trainOn("wasm", c);
    const gpu = await trainOn("webgpu", c);
    // Assert
    expect(wasm.backend).toBe("wasm");
    expect(gpu.backend).toBe("webgpu");
    const deltas = (r: typeof wasm) => r.result.delta.map((d) => d.data);
    expect(deltas(gpu).some((d) => d.some((v) => v !== 0))).toBe(true);
    expect(maxAbsDiff(deltas(gpu), deltas(wasm))).toBeLessThanOrEqual(1e-5);
    expect(gpu.result.metrics.loss).toBeCloseTo(wasm.result.metrics.loss, 4);
    expect(gpu.evaluation.loss).toBeCloseTo(wasm.evaluation.loss, 4);
    expect(gpu.result.sampleCount).toBe(wasm.result.sampleCount);
  }, 120_000);
});
