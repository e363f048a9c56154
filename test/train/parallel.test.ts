import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveBackend } from "../../src/train/backends.js";
import { syntheticDigits, syntheticTabular } from "../../src/train/data/synthetic.js";
import { buildFixtureModel } from "../../src/train/modelSpecs.js";
import { describeModel } from "../../src/train/modelShape.js";
import { createOptimizer } from "../../src/train/optimizer.js";
import { createParallelStep, prewarmParallelStep, ShardBalance } from "../../src/train/parallel/parallelStep.js";
import { poolsStarted, stopIdleWorkers } from "../../src/train/parallel/pool.js";
import { planSequentialStep } from "../../src/train/sequentialStep.js";
import { trainLocal, type TrainLocalOptions } from "../../src/train/trainLocal.js";
import { proximal } from "../../src/train/trainStep.js";
import { cifarCnn, cifarRandomData } from "../../scripts/gpu-kit-threads.js";

function maxWeightDiff(a: { data: Float32Array }[], b: { data: Float32Array }[]): number {
  let worst = 0;
  a.forEach((w, i) => w.data.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - b[i].data[k])))));
  return worst;
}

describe("data-parallel training over worker threads", () => {
  beforeAll(async () => {
    await resolveBackend("wasm");
  });
  afterAll(async () => {
    await stopIdleWorkers();
  });

  it("reaches the weights one thread reaches on the same batches (fixture CNN, sgd (the SIMD update), sgd with FedProx, adam)", async () => {
    // Prepare
    const data = syntheticDigits({ count: 100, seed: 21 });
    const cases: Partial<TrainLocalOptions>[] = [
      { optimizer: "sgd", lr: 0.05 },
      { optimizer: "sgd", lr: 0.05, mu: 0.1 },
      { optimizer: "adam", lr: 0.003 },
    ];
    for (const c of cases) {
      const results = [];
      for (const threads of [1, 2]) {
        const model = buildFixtureModel("cnn-digits", 5);
        // Execute: 3 epochs, a last batch of 100 mod 24 = 4 rows (2 per thread).
        results.push(await trainLocal({ model, data, epochs: 3, batchSize: 24, seed: 9, lr: 0.01, ...c, threads }));
        model.dispose();
      }
      // Assert
      const [one, two] = results;
      expect(one.step).toEqual({ kind: "sequential", threads: 1 });
      expect(two.step).toEqual({ kind: "parallel", threads: 2 });
      expect(maxWeightDiff(one.weights, two.weights)).toBeLessThan(1e-4);
      expect(two.metrics.loss).toBeCloseTo(one.metrics.loss, 4);
      expect(two.metrics.accuracy).toBe(one.metrics.accuracy);
      expect(maxWeightDiff(one.weights, one.weights.map((w, i) => ({ data: w.data.map((v, k) => v - one.delta[i].data[k]) })))).toBeGreaterThan(1e-3);
    }
  });

  it("on the CIFAR-sized CNN, differs from one thread by what a 1-ulp change of one weight gives one thread: rounding, grown by the training", async () => {
    // Prepare: 8 steps of 32 random images; a second one-thread run from weights where one of
    // 1.1M is moved by one unit in the last place.
    const data = cifarRandomData(256, 1);
    const nudged = (): tf.LayersModel => {
      const model = cifarCnn();
      const [kernel, bias] = model.layers[0].getWeights();
      const values = kernel.dataSync().slice();
      new Uint32Array(values.buffer)[0] += 1;
      model.layers[0].setWeights([tf.tensor(values, kernel.shape), bias]);
      return model;
    };
    const relative = (a: { data: Float32Array }[], b: { data: Float32Array }[]): number => {
      let num = 0;
      let den = 0;
      a.forEach((w, i) => w.data.forEach((v, k) => ((num += (v - b[i].data[k]) ** 2), (den += v * v))));
      return Math.sqrt(num / den);
    };
    const run = (model: tf.LayersModel, threads: number) => trainLocal({ model, data, epochs: 1, batchSize: 32, lr: 0.01, seed: 7, threads });

    // Execute
    const one = await run(cifarCnn(), 1);
    const two = await run(cifarCnn(), 2);
    const ulp = await run(nudged(), 1);

    // Assert: two threads' delta is as far from one thread's as the nudge's, within a factor of 10
    // (each a few per mille here: a ReLU or pooling choice flipped by rounding changes later steps).
    const threads = relative(one.delta, two.delta);
    const rounding = relative(one.delta, ulp.delta);
    expect(rounding).toBeGreaterThan(0);
    const figures = `‖Δ₂ − Δ₁‖/‖Δ₁‖ ${threads.toExponential(2)}, after a 1-ulp nudge ${rounding.toExponential(2)}`;
    expect(threads, figures).toBeLessThan(10 * rounding);
    expect(threads, figures).toBeLessThan(0.05);
  }, 120_000);

  it("trains in micro-batches within each shard to the weights one thread reaches", async () => {
    // Prepare: shards of 12 rows in micro-batches of 5 (5 + 5 + 2: uneven on purpose).
    const data = syntheticDigits({ count: 72, seed: 23 });
    const results = [];
    for (const microBatch of [undefined, 5]) {
      const model = buildFixtureModel("cnn-digits", 7);
      // Execute
      results.push(await trainLocal({ model, data, epochs: 2, batchSize: 24, seed: 3, lr: 0.05, mu: 0.1, threads: microBatch ? 2 : 1, microBatch }));
      model.dispose();
    }
    // Assert
    const [one, micro] = results;
    expect(micro.step.kind).toBe("parallel");
    expect(maxWeightDiff(one.weights, micro.weights)).toBeLessThan(1e-4);
    expect(micro.metrics.loss).toBeCloseTo(one.metrics.loss, 4);
    expect(maxWeightDiff(one.weights, one.weights.map((w, i) => ({ data: w.data.map((v, k) => v - one.delta[i].data[k]) })))).toBeGreaterThan(1e-3);
  });

  it("takes batches smaller than the thread count", async () => {
    const data = syntheticDigits({ count: 5, seed: 22 });
    const results = [];
    for (const threads of [1, 3]) {
      const model = buildFixtureModel("cnn-digits", 6);
      results.push(await trainLocal({ model, data, epochs: 2, batchSize: 2, seed: 1, lr: 0.05, threads }));
      model.dispose();
    }
    expect(results[1].step.threads).toBe(3);
    expect(maxWeightDiff(results[0].weights, results[1].weights)).toBeLessThan(1e-5);
  });

  it("reuses its workers for the next run of the same architecture, with that run's weights, and starts new ones for another", async () => {
    // Prepare: two different data sets and initial weights for the same architecture, then another architecture.
    await stopIdleWorkers();
    const runs = [
      { fixture: "cnn-digits" as const, seed: 3, data: syntheticDigits({ count: 48, seed: 31 }), mu: 0.2 },
      { fixture: "cnn-digits" as const, seed: 4, data: syntheticDigits({ count: 40, seed: 32 }), mu: 0 },
      { fixture: "mlp-digits" as const, seed: 5, data: syntheticDigits({ count: 40, seed: 33 }), mu: 0 },
    ];
    const before = poolsStarted();
    const started: number[] = [];
    for (const r of runs) {
      const results = [];
      for (const threads of [1, 2]) {
        const model = buildFixtureModel(r.fixture, r.seed);
        // Execute
        results.push(await trainLocal({ model, data: r.data, epochs: 2, batchSize: 16, seed: 2, lr: 0.05, mu: r.mu, threads, profile: true }));
        model.dispose();
      }
      started.push(poolsStarted() - before);
      // Assert: the same weights as one thread, whichever run the workers served before.
      expect(results[1].step.kind).toBe("parallel");
      expect(maxWeightDiff(results[0].weights, results[1].weights)).toBeLessThan(1e-5);
      expect(results[1].metrics.loss).toBeCloseTo(results[0].metrics.loss, 5);
    }
    // One start for both cnn-digits runs, a second for the MLP.
    expect(started).toEqual([1, 1, 2]);
  });

  it("takes the workers started ahead for its model, and stops those started ahead for another model", async () => {
    // Prepare: workers started ahead for the CNN, then for the MLP (which stops the CNN's), then the CNN's again.
    await stopIdleWorkers();
    const before = poolsStarted();
    const data = syntheticDigits({ count: 40, seed: 35 });
    const cnn = buildFixtureModel("cnn-digits", 8);
    const mlp = buildFixtureModel("mlp-digits", 8);
    prewarmParallelStep(cnn, describeModel(cnn), 2);
    prewarmParallelStep(cnn, describeModel(cnn), 2); // already starting: no second pool
    prewarmParallelStep(mlp, describeModel(mlp), 2);
    prewarmParallelStep(cnn, describeModel(cnn), 2);
    prewarmParallelStep(cnn, describeModel(cnn), 1); // one thread: nothing to start
    expect(poolsStarted() - before).toBe(3);
    // Execute: a run of the CNN on two threads, then one on one thread for reference.
    const two = await trainLocal({ model: cnn, data, epochs: 1, batchSize: 10, seed: 2, lr: 0.05, threads: 2 });
    const oneModel = buildFixtureModel("cnn-digits", 8);
    const one = await trainLocal({ model: oneModel, data, epochs: 1, batchSize: 10, seed: 2, lr: 0.05, threads: 1 });
    // Assert: the run took the pool started ahead (no fourth start) and trained as one thread does.
    expect(poolsStarted() - before).toBe(3);
    expect(two.step.kind).toBe("parallel");
    expect(maxWeightDiff(one.weights, two.weights)).toBeLessThan(1e-5);
    [cnn, mlp, oneModel].forEach((m) => m.dispose());
  });

  it("starts its workers anew when those started ahead failed to start", async () => {
    // Prepare: a worker entry that fails as it starts, started ahead under the real run's key.
    await stopIdleWorkers();
    const model = buildFixtureModel("mlp-tabular", 2);
    const shape = describeModel(model);
    const failing = new URL(`file://${path.resolve(__dirname, "failingWorker.ts")}?start`);
    prewarmParallelStep(model, shape, 2, failing);
    const before = poolsStarted();
    const step = planSequentialStep(model, shape.task)!;
    const optimizer = createOptimizer("sgd", 0.1);
    // Execute + Assert: the failed start is not taken; a new one fails the same way and says so.
    await expect(createParallelStep({ model, shape, optimizer, threads: 2, step, prox: proximal(model, 0), workerEntry: failing })).rejects.toThrow(/Training thread 1 failed: start rejected on purpose/);
    expect(poolsStarted() - before).toBe(1);
    optimizer.dispose();
    model.dispose();
  });

  it("times each phase of this thread and the workers when asked to profile", async () => {
    const model = buildFixtureModel("cnn-digits", 7);
    const result = await trainLocal({ model, data: syntheticDigits({ count: 40, seed: 34 }), epochs: 1, batchSize: 10, lr: 0.05, threads: 2, profile: true });
    model.dispose();
    const profile = result.step.profile!;
    expect(profile.steps).toBe(4);
    for (const phase of ["main.compute", "main.update", "main.assign", "workers.compute", "workers.update", "workers.assign"]) {
      expect(profile.phases[phase], phase).toBeDefined();
      expect(profile.phases[phase].wallMs).toBeGreaterThan(0);
    }
    expect(profile.phases["main.compute"].cpuMs + profile.phases["workers.compute"].cpuMs).toBeGreaterThan(0);
    const unprofiled = buildFixtureModel("cnn-digits", 7);
    const plain = await trainLocal({ model: unprofiled, data: syntheticDigits({ count: 20, seed: 34 }), epochs: 1, batchSize: 10, lr: 0.05, threads: 2 });
    unprofiled.dispose();
    expect(plain.step.profile).toBeUndefined();
  });

  it("reports a worker that fails as an error naming the thread, and stops the others", async () => {
    // Prepare: a worker entry that starts and then fails on its first shard.
    const model = buildFixtureModel("mlp-tabular", 1);
    const shape = describeModel(model);
    const step = planSequentialStep(model, shape.task)!;
    const optimizer = createOptimizer("sgd", 0.1);
    const parallel = await createParallelStep({
      model, shape, optimizer, threads: 2, step, prox: proximal(model, 0),
      workerEntry: new URL(`file://${path.resolve(__dirname, "failingWorker.ts")}`),
    });
    const batch = Array.from({ length: 4 }, (_, i) => ({ x: new Float32Array(8).fill(i), y: i % 3 }));
    // Execute + Assert
    await expect(parallel.run(batch)).rejects.toThrow(/Training thread 1 failed: shard rejected on purpose/);
    await expect(parallel.run(batch)).rejects.toThrow(/Training thread 1 failed/);
    await parallel.dispose();
    optimizer.dispose();
    model.dispose();
    expect(tf.getBackend()).toBe("wasm");
  });

  it("refuses a thread count that is not a positive integer", async () => {
    const model = buildFixtureModel("mlp-tabular", 1);
    const data = syntheticTabular({ count: 4, seed: 1 });
    for (const threads of [0, 1.5, -2]) {
      await expect(trainLocal({ model, data, epochs: 1, batchSize: 2, lr: 0.1, threads })).rejects.toThrow(`threads must be a positive integer, got ${threads}`);
    }
    model.dispose();
  });
});

describe("shard sizes by thread speed", () => {
  const sizes = (bounds: [number, number][]) => bounds.map(([from, to]) => to - from);
  const contiguous = (bounds: [number, number][], rows: number) => bounds.every(([from], k) => from === (k === 0 ? 0 : bounds[k - 1][1])) && bounds[bounds.length - 1][1] === rows;

  it("splits equally until every thread has been timed, then in proportion to speed", () => {
    const balance = new ShardBalance(2);
    expect(sizes(balance.split(32))).toEqual([16, 16]);
    // Execute: the worker took 1.25× as long for the same rows.
    balance.record([[0, 16], [16, 32]], [160, 200]);
    const bounds = balance.split(32);
    // Assert: 32 × (1/160) / (1/160 + 1/200) = 17.8 → 18 rows here, 14 there.
    expect(sizes(bounds)).toEqual([18, 14]);
    expect(contiguous(bounds, 32)).toBe(true);
  });

  it("keeps every shard within half and one and a half times the equal share, and sums to the batch", () => {
    const balance = new ShardBalance(3);
    balance.record([[0, 10], [10, 20], [20, 30]], [10, 1000, 10]);
    for (const rows of [30, 31, 32, 100]) {
      const bounds = balance.split(rows);
      expect(contiguous(bounds, rows)).toBe(true);
      for (const n of sizes(bounds)) {
        expect(n).toBeGreaterThanOrEqual(Math.floor(rows / 3 / 2));
        expect(n).toBeLessThanOrEqual(Math.ceil((1.5 * rows) / 3));
      }
    }
  });

  it("splits small batches equally, and ignores shards that were not timed", () => {
    const balance = new ShardBalance(2);
    balance.record([[0, 2], [2, 2]], [5, 0]);
    expect(sizes(balance.split(32))).toEqual([16, 16]);
    balance.record([[0, 16], [16, 32]], [100, 300]);
    expect(sizes(balance.split(3))).toEqual([2, 1]);
  });
});
