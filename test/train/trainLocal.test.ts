import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { resolveBackend } from "../../src/train/backends.js";
import { syntheticDigits, syntheticTabular } from "../../src/train/data/synthetic.js";
import { getWeightTensors, loadModelDir } from "../../src/train/modelIo.js";
import { evaluate, trainLocal } from "../../src/train/trainLocal.js";

const fixtures = path.resolve(__dirname, "../../fixtures");

describe("trainLocal on wasm", () => {
  beforeAll(async () => {
    await resolveBackend("wasm");
  });

  it("trains the fixture CNN on generated digits to clearly better than chance", async () => {
    // Prepare
    const model = await loadModelDir(path.join(fixtures, "cnn-digits"));
    const train = syntheticDigits({ count: 600, seed: 1 });
    const test = syntheticDigits({ count: 200, seed: 2 });
    const before = await evaluate(model, test);
    // Execute
    const result = await trainLocal({ model, data: train, epochs: 3, batchSize: 32, lr: 0.003, optimizer: "adam", seed: 3 });
    const after = await evaluate(model, test);
    // Assert
    expect(tf.getBackend()).toBe("wasm");
    expect(before.accuracy!).toBeLessThan(0.3);
    expect(after.accuracy!).toBeGreaterThan(0.6);
    expect(result.sampleCount).toBe(600);
    expect(result.metrics.epochs).toHaveLength(3);
    model.dispose();
  });

  it("returns delta = trained − global and holds out the validation split", async () => {
    const model = await loadModelDir(path.join(fixtures, "mlp-tabular"));
    const global = await getWeightTensors(model);
    const data = syntheticTabular({ count: 300, seed: 4 });
    const result = await trainLocal({ model, data, epochs: 2, batchSize: 16, lr: 0.05, seed: 5, valSplit: 0.2 });
    expect(result.sampleCount + result.valCount).toBe(300);
    expect(result.valCount).toBeGreaterThan(30);
    expect(result.metrics.valAccuracy).toBeDefined();
    result.weights.forEach((w, i) => {
      expect(w.name).toBe(global[i].name);
      for (let k = 0; k < w.data.length; k += 7) expect(result.delta[i].data[k]).toBeCloseTo(w.data[k] - global[i].data[k], 5);
    });
    expect(result.delta.some((d) => d.data.some((v) => v !== 0))).toBe(true);
    model.dispose();
  });

  it("keeps the number of tensors flat across epochs", async () => {
    const model = await loadModelDir(path.join(fixtures, "cnn-digits"));
    const data = syntheticDigits({ count: 64, seed: 6 });
    const counts: number[] = [];
    await trainLocal({
      model, data, epochs: 4, batchSize: 16, lr: 0.01, optimizer: "adam", mu: 0.01, valSplit: 0.25, seed: 1,
      onEpoch: () => counts.push(tf.memory().numTensors),
    });
    expect(counts).toHaveLength(4);
    expect(new Set(counts.slice(1)).size).toBe(1);
    model.dispose();
  });

  it("FedProx pulls the trained weights towards the global ones", async () => {
    const data = syntheticTabular({ count: 200, seed: 7 });
    const norms: number[] = [];
    for (const mu of [0, 5]) {
      const model = await loadModelDir(path.join(fixtures, "mlp-tabular"));
      const result = await trainLocal({ model, data, epochs: 3, batchSize: 16, lr: 0.05, mu, seed: 2 });
      norms.push(Math.sqrt(result.delta.reduce((s, d) => s + d.data.reduce((a, v) => a + v * v, 0), 0)));
      model.dispose();
    }
    expect(norms[1]).toBeLessThan(norms[0]);
  });

  it("stops after the current batch on abort, checkpoints, and resumes to the end", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dat-train-"));
    const data = syntheticTabular({ count: 160, seed: 8 });
    const controller = new AbortController();
    const model = await loadModelDir(path.join(fixtures, "mlp-tabular"));
    const first = await trainLocal({
      model, data, epochs: 3, batchSize: 16, lr: 0.05, seed: 3, checkpointDir: dir,
      onBatch: (p) => { if (p.epoch === 2 && p.batch === 4) controller.abort(); },
      signal: controller.signal,
    });
    expect(first.stopped).toBe(true);
    expect(first.epochsCompleted).toBe(1);
    expect(JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8"))).toMatchObject({ epoch: 1, batch: 4 });
    model.dispose();

    const again = await loadModelDir(path.join(fixtures, "mlp-tabular"));
    const second = await trainLocal({ model: again, data, epochs: 3, batchSize: 16, lr: 0.05, seed: 3, checkpointDir: dir, resume: true });
    expect(second.stopped).toBe(false);
    expect(second.epochsCompleted).toBe(3);
    expect(second.metrics.epochs.map((e) => e.epoch)).toEqual([1, 2, 3]);
    // The delta is against the original global weights, not the checkpoint.
    const global = await getWeightTensors(await loadModelDir(path.join(fixtures, "mlp-tabular")));
    expect(second.delta[0].data[0]).toBeCloseTo(second.weights[0].data[0] - global[0].data[0], 5);
    again.dispose();
  });

  it("resumes adam with its moments and step count: same weights as an uninterrupted run", async () => {
    // Prepare
    const data = syntheticTabular({ count: 160, seed: 9 });
    const options = { data, epochs: 2, batchSize: 16, lr: 0.05, optimizer: "adam" as const, seed: 4 };
    const straightModel = await loadModelDir(path.join(fixtures, "mlp-tabular"));
    const straight = await trainLocal({ model: straightModel, ...options });
    straightModel.dispose();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dat-train-"));
    const controller = new AbortController();
    const firstModel = await loadModelDir(path.join(fixtures, "mlp-tabular"));
    // Execute: stop in the middle of epoch 2, resume in a fresh model and optimizer
    await trainLocal({
      model: firstModel, ...options, checkpointDir: dir, signal: controller.signal,
      onBatch: (p) => { if (p.epoch === 2 && p.batch === 3) controller.abort(); },
    });
    firstModel.dispose();
    const state = JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8")) as { optimizer: { kind: string; tensors: unknown[] } };
    const secondModel = await loadModelDir(path.join(fixtures, "mlp-tabular"));
    const resumed = await trainLocal({ model: secondModel, ...options, checkpointDir: dir, resume: true });
    secondModel.dispose();
    // Assert: the iteration count plus first and second moments of each of the 4 weights
    expect(state.optimizer.kind).toBe("adam");
    expect(state.optimizer.tensors).toHaveLength(1 + 2 * 4);
    let worst = 0;
    resumed.weights.forEach((w, i) => w.data.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - straight.weights[i].data[k])))));
    expect(worst).toBeLessThan(1e-4);
  });
});
