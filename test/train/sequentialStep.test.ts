import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { resolveBackend } from "../../src/train/backends.js";
import { syntheticDigits, syntheticTabular } from "../../src/train/data/synthetic.js";
import { buildFixtureModel, type FixtureName } from "../../src/train/modelSpecs.js";
import { createRng } from "../../src/train/rng.js";
import { planSequentialStep } from "../../src/train/sequentialStep.js";
import { modelLoss } from "../../src/train/loss.js";
import { describeModel } from "../../src/train/modelShape.js";
import { trainLocal } from "../../src/train/trainLocal.js";

interface Gradients {
  loss: number;
  correct: number;
  grads: Record<string, Float32Array>;
}

function randomBatch(shape: number[], classes: number, seed: number): { x: Float32Array; labels: Float32Array } {
  const rng = createRng(seed);
  const x = new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => rng.normal());
  const labels = new Float32Array(shape[0]).map(() => rng.int(classes));
  return { x, labels };
}

/** The generic step's loss and gradients (tf.variableGrads through model.apply) on the plain JS backend. */
async function genericOnCpu(model: tf.LayersModel, x: Float32Array, shape: number[], labels: Float32Array): Promise<Gradients> {
  await tf.setBackend("cpu");
  const { task } = describeModel(model);
  const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
  let correct = NaN;
  return tf.tidy(() => {
    const xs = tf.tensor(x, shape);
    const ys = tf.tensor1d(labels);
    const { value, grads } = tf.variableGrads(() => {
      const out = modelLoss(model, task, xs, ys, true);
      correct = out.correct!.dataSync()[0];
      return out.loss;
    }, trainable);
    return { loss: value.dataSync()[0], correct, grads: Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, Float32Array.from(g.dataSync())])) };
  });
}

async function handWrittenOnWasm(model: tf.LayersModel, x: Float32Array, shape: number[], labels: Float32Array): Promise<Gradients> {
  await tf.setBackend("wasm");
  const step = planSequentialStep(model, describeModel(model).task);
  expect(step).toBeDefined();
  const before = tf.memory().numTensors;
  const out = tf.tidy(() => {
    const { loss, correct, grads } = step!.gradients(tf.tensor(x, shape), labels);
    return { loss, correct, grads: Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, Float32Array.from(g.dataSync())])) };
  });
  expect(tf.memory().numTensors).toBe(before);
  return out;
}

async function expectSameGradients(build: () => tf.LayersModel, inputShape: number[], batch: number, seed: number): Promise<void> {
  // Prepare
  await tf.setBackend("cpu");
  const model = build();
  const classes = model.outputs[0].shape[1]!;
  const shape = [batch, ...inputShape];
  const { x, labels } = randomBatch(shape, classes, seed);
  // Execute
  const expected = await genericOnCpu(model, x, shape, labels);
  const actual = await handWrittenOnWasm(model, x, shape, labels);
  // Assert
  expect(actual.loss).toBeCloseTo(expected.loss, 4);
  expect(actual.correct).toBe(expected.correct);
  expect(Object.keys(actual.grads).sort()).toEqual(Object.keys(expected.grads).sort());
  for (const [name, want] of Object.entries(expected.grads)) {
    const got = actual.grads[name];
    expect(got.length).toBe(want.length);
    const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-6);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / scale);
    expect(worst, name).toBeLessThan(1e-4);
  }
  model.dispose();
}

const init = (seed: number) => tf.initializers.glorotUniform({ seed });

describe("the hand-written wasm step", () => {
  beforeAll(async () => {
    await resolveBackend("wasm");
  });

  for (const name of ["cnn-digits", "mlp-digits", "mlp-tabular"] as FixtureName[]) {
    it(`gives the generic step's loss and gradients on the ${name} fixture`, async () => {
      await expectSameGradients(() => buildFixtureModel(name, 7), name === "mlp-tabular" ? [8] : [28, 28, 1], 6, 1);
    });
  }

  it("covers padded and strided convolutions, overlapping pools, and layers without bias", async () => {
    const build = (): tf.LayersModel =>
      tf.sequential({
        layers: [
          tf.layers.conv2d({ inputShape: [11, 10, 3], filters: 4, kernelSize: 3, strides: 2, padding: "same", activation: "relu", kernelInitializer: init(1) }),
          tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: "same" }),
          tf.layers.conv2d({ filters: 5, kernelSize: [2, 1], useBias: false, kernelInitializer: init(2) }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 7, activation: "relu", useBias: false, kernelInitializer: init(3) }),
          tf.layers.dense({ units: 3, activation: "softmax", kernelInitializer: init(4) }),
        ],
      });
    await expectSameGradients(build, [11, 10, 3], 5, 2);
  });

  it("covers stacked convolutions, a pool after a later conv, a linear first conv and logits", async () => {
    const build = (): tf.LayersModel =>
      tf.sequential({
        layers: [
          tf.layers.conv2d({ inputShape: [9, 9, 2], filters: 3, kernelSize: 2, activation: "relu", kernelInitializer: init(5) }),
          tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: "same", activation: "relu", kernelInitializer: init(6) }),
          tf.layers.maxPooling2d({ poolSize: 2 }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 4, kernelInitializer: init(7) }),
        ],
      });
    await expectSameGradients(build, [9, 9, 2], 4, 3);
    const linearFirst = (): tf.LayersModel =>
      tf.sequential({
        layers: [
          tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 2, kernelSize: 3, kernelInitializer: init(8) }),
          tf.layers.maxPooling2d({ poolSize: 2 }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 3, activation: "softmax", kernelInitializer: init(9) }),
        ],
      });
    await expectSameGradients(linearFirst, [8, 8, 1], 5, 4);
  });

  it("gives the generic step's gradients through large dense kernels, whose forward product runs transposed", async () => {
    // 16·16·2 = 512 inputs × 160 units = 81,920 weights (≥ 65,536) and 160 ≥ 3 × 6 rows: the (Wᵀ·xᵀ)ᵀ path,
    // once with bias and ReLU, once linear without bias; the small last layer keeps the packed path.
    const build = (relu: boolean) => (): tf.LayersModel =>
      tf.sequential({
        layers: [
          tf.layers.conv2d({ inputShape: [16, 16, 1], filters: 2, kernelSize: 3, padding: "same", activation: "relu", kernelInitializer: init(10) }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 160, activation: relu ? "relu" : "linear", useBias: relu, kernelInitializer: init(11) }),
          tf.layers.dense({ units: 4, activation: "softmax", kernelInitializer: init(12) }),
        ],
      });
    await expectSameGradients(build(true), [16, 16, 1], 6, 5);
    await expectSameGradients(build(false), [16, 16, 1], 6, 6);
  });

  it("gives the generic step's gradients where label probabilities underflow (loss from logits, no clip)", async () => {
    // Large weights: softmax probabilities far below 1e-7 for many labels.
    const build = (): tf.LayersModel =>
      tf.sequential({ layers: [tf.layers.dense({ inputShape: [6], units: 4, activation: "softmax", kernelInitializer: tf.initializers.randomNormal({ stddev: 30, seed: 10 }) })] });
    await expectSameGradients(build, [6], 8, 5);
  });

  describe("a model saturated on one class", () => {
    /** The tabular fixture with a bias of 40 on class 2's logit: p(label) < 1e-17 for every other row. */
    function saturated(): tf.LayersModel {
      const model = buildFixtureModel("mlp-tabular", 4);
      const bias = model.layers[1].weights[1].read() as tf.Variable;
      bias.assign(tf.tensor1d([0, 0, 40]));
      return model;
    }

    it("gets a gradient on every row, on both steps", async () => {
      for (const backend of ["cpu", "wasm"]) {
        // Prepare
        await tf.setBackend(backend);
        const model = saturated();
        const { task } = describeModel(model);
        const { x, labels } = randomBatch([6, 8], 3, 8);
        labels.set([0, 1, 0, 1, 0, 1]);
        const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
        // Execute: the generic step's gradients on cpu, the hand-written one's on wasm.
        const grads = tf.tidy(() => {
          const xs = tf.tensor(x, [6, 8]);
          if (backend === "wasm") {
            const out = planSequentialStep(model, task)!.gradients(xs, labels);
            expect(out.loss).toBeGreaterThan(30);
            return trainable.map((v) => Float32Array.from(out.grads[v.name].dataSync()));
          }
          const { value, grads: g } = tf.variableGrads(() => modelLoss(model, task, xs, tf.tensor1d(labels), true).loss, trainable);
          expect(value.dataSync()[0]).toBeGreaterThan(30);
          return trainable.map((v) => Float32Array.from(g[v.name].dataSync()));
        });
        // Assert: d loss / d bias = mean(p − onehot) = [−1/2, −1/2, 1] where p(class 2) ≈ 1.
        const dBias = grads[3];
        expect(dBias[0]).toBeCloseTo(-0.5, 5);
        expect(dBias[1]).toBeCloseTo(-0.5, 5);
        expect(dBias[2]).toBeCloseTo(1, 5);
        model.dispose();
      }
      await tf.setBackend("wasm");
    });

    it("learns again: accuracy recovers within a few epochs, on both steps", async () => {
      const data = syntheticTabular({ count: 300, seed: 13 });
      for (const backend of ["cpu", "wasm"]) {
        await tf.setBackend(backend);
        const model = saturated();
        const result = await trainLocal({ model, data, epochs: 8, batchSize: 16, lr: 0.05, optimizer: "sgd", seed: 2, threads: 1 });
        const first = result.metrics.epochs[0];
        const last = result.metrics.epochs[result.metrics.epochs.length - 1];
        expect(first.loss, backend).toBeGreaterThan(1);
        expect(last.accuracy!, backend).toBeGreaterThan(0.8);
        expect(result.step.kind).toBe(backend === "wasm" ? "sequential" : "generic");
        model.dispose();
      }
      await tf.setBackend("wasm");
    });
  });

  it("declines what it does not cover, so the generic step runs", async () => {
    await tf.setBackend("wasm");
    const classifier = { kind: "classification" as const, classes: 3, fromLogits: false };
    const dropout = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 5, activation: "relu" }), tf.layers.dropout({ rate: 0.5 }), tf.layers.dense({ units: 3, activation: "softmax" })] });
    const sigmoid = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 5, activation: "sigmoid" }), tf.layers.dense({ units: 3, activation: "softmax" })] });
    const frozen = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 5, activation: "relu", trainable: false }), tf.layers.dense({ units: 3, activation: "softmax" })] });
    const input = tf.input({ shape: [4] });
    const functional = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3, activation: "softmax" }).apply(input) as tf.SymbolicTensor });
    const binary = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 1, activation: "sigmoid" })] });
    expect(planSequentialStep(dropout, classifier)).toBeUndefined();
    expect(planSequentialStep(sigmoid, classifier)).toBeUndefined();
    expect(planSequentialStep(frozen, classifier)).toBeUndefined();
    expect(planSequentialStep(functional, classifier)).toBeUndefined();
    expect(planSequentialStep(binary, describeModel(binary).task)).toBeUndefined();
    const plain = buildFixtureModel("mlp-tabular");
    expect(planSequentialStep(plain, describeModel(plain).task)).toBeDefined();
    await tf.setBackend("cpu");
    expect(planSequentialStep(plain, describeModel(plain).task)).toBeUndefined();
    [dropout, sigmoid, frozen, functional, binary, plain].forEach((m) => m.dispose());
    await tf.setBackend("wasm");
  });

  it("trains to the weights the generic step reaches on the plain JS backend (sgd with FedProx, adam)", async () => {
    const cases = [
      { fixture: "cnn-digits" as const, data: syntheticDigits({ count: 48, seed: 11 }), options: { batchSize: 16, lr: 0.05, mu: 0.5 } },
      { fixture: "mlp-tabular" as const, data: syntheticTabular({ count: 64, seed: 12 }), options: { batchSize: 16, lr: 0.01, optimizer: "adam" as const } },
    ];
    for (const c of cases) {
      const results = [];
      for (const backend of ["cpu", "wasm"]) {
        await tf.setBackend(backend);
        const model = buildFixtureModel(c.fixture, 3);
        results.push(await trainLocal({ model, data: c.data, epochs: 2, seed: 6, ...c.options }));
        model.dispose();
      }
      const [generic, handWritten] = results;
      expect(handWritten.metrics.loss).toBeCloseTo(generic.metrics.loss, 4);
      expect(handWritten.metrics.accuracy).toBe(generic.metrics.accuracy);
      let worst = 0;
      handWritten.weights.forEach((w, i) => w.data.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - generic.weights[i].data[k])))));
      expect(worst, c.fixture).toBeLessThan(1e-4);
    }
  });
});
