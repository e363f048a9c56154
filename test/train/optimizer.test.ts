import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { resolveBackend } from "../../src/train/backends.js";
import { createOptimizer } from "../../src/train/optimizer.js";
import { createRng } from "../../src/train/rng.js";

function random(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return new Float32Array(n).map(() => rng.normal());
}

let run = 0;

/**
 * Three steps on fresh variables (gradients as a list, then as a map); returns the weights, the
 * optimizer's saved state (iteration count and slots, flattened) and the kernels its last step ran.
 */
async function threeSteps(backend: string, optimizer: () => tf.Optimizer): Promise<{ weights: Float32Array[]; state: Float32Array[]; names: string[]; kernels: string[] }> {
  await tf.setBackend(backend);
  // The last is big enough for Adam to take tfjs's ops on wasm instead of one JavaScript pass.
  const shapes = [[7, 5], [5], [100, 90]];
  run++;
  const vars = shapes.map((s, i) => tf.tidy(() => tf.variable(tf.tensor(random(s.reduce((a, b) => a * b, 1), i + 1), s), true, `optimizer-test-${run}-${i}`)));
  const opt = optimizer();
  let kernels: string[] = [];
  for (let step = 0; step < 3; step++) {
    const grads = vars.map((v, i) => ({ name: v.name, tensor: tf.tensor(random(v.size, 10 * step + i + 3), v.shape) }));
    const apply = (): void => opt.applyGradients(step === 1 ? Object.fromEntries(grads.map((g) => [g.name, g.tensor])) : grads);
    if (step === 2) kernels = (await tf.profile(apply)).kernelNames;
    else apply();
    grads.forEach((g) => g.tensor.dispose());
  }
  const saved = await opt.getWeights();
  const state = await Promise.all(saved.map(async (w) => Float32Array.from(await w.tensor.data())));
  const names = saved.map((w) => w.name.replace(/^optimizer-test-\d+-/, ""));
  saved.filter((w) => w.name === "iter").forEach((w) => w.tensor.dispose());
  const weights = vars.map((v) => Float32Array.from(v.dataSync()));
  opt.dispose();
  vars.forEach((v) => v.dispose());
  return { weights, state, names, kernels };
}

async function expectSameAsTfjsAdamOnCpu(): Promise<string[]> {
  const expected = await threeSteps("cpu", () => tf.train.adam(0.037));
  await tf.setBackend("wasm");
  const before = tf.memory().numTensors;
  const actual = await threeSteps("wasm", () => createOptimizer("adam", 0.037));
  expect(tf.memory().numTensors).toBe(before);
  actual.weights.forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(expected.weights[i])));
  expect(actual.names).toEqual(expected.names);
  actual.state.forEach((s, i) => expect(Array.from(s)).toEqual(Array.from(expected.state[i])));
  expect(Array.from(actual.state[0])).toEqual([3]);
  return actual.kernels;
}

describe("createOptimizer", () => {
  beforeAll(async () => {
    await resolveBackend("wasm");
  });

  it("updates with Adam on wasm to exactly tfjs's Adam weights and moments on the plain JS backend", async () => {
    const kernels = await expectSameAsTfjsAdamOnCpu();
    // tfjs's ops (one square root each) only for the big variable.
    expect(kernels.filter((k) => k === "Sqrt")).toHaveLength(1);
  });

  it("is tfjs's SGD for sgd, and an Adam with tfjs's config for adam", () => {
    const [sgd, adam, reference] = [createOptimizer("sgd", 0.1), createOptimizer("adam", 0.01), tf.train.adam(0.01)];
    expect(sgd).toBeInstanceOf(tf.SGDOptimizer);
    expect(adam).toBeInstanceOf(tf.AdamOptimizer);
    expect(adam.getConfig()).toEqual(reference.getConfig());
    [sgd, adam, reference].forEach((o) => o.dispose());
  });
});
