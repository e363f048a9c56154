/**
 * Data-parallel wasm training on one, two and all cores, measured alike by the GPU kit's CPU
 * section (`sh .gpu-kit/run.sh --threads-only`) and `npm run bench -- train`: the CIFAR-sized CNN
 * of issue 15 (32×32×3, conv32-conv32-pool-conv64-conv64-pool-dense256-10, 1,115,402 parameters)
 * trained from the same initial weights on the same batches with each thread count.
 *
 * Per thread count: samples/s of wall time; the process's CPU seconds (all threads) and samples
 * per CPU second; this thread's CPU per step and the busiest worker's (from the parallel step's
 * phase profile, /proc/thread-self/schedstat); the speedup over one thread in wall time; the
 * ideal speedup the CPU times allow, (one thread's CPU per step) / (the critical path's: the
 * larger of this thread's and a worker's CPU per step) — the figure a loaded machine distorts
 * least; and how far the trained weights are from one thread's.
 */
import * as tf from "@tensorflow/tfjs";
import { arraySource, type DataSource, type Sample } from "../src/train/data/source.js";
import { stopIdleWorkers } from "../src/train/parallel/pool.js";
import { threadCpuMs } from "../src/train/parallel/threadCpu.js";
import { createRng } from "../src/train/rng.js";
import { createTrainStep } from "../src/train/step.js";
import { trainLocal } from "../src/train/trainLocal.js";
import { median } from "../test/bench/stats.js";

/** The CIFAR-sized CNN ('same' padding: 1,115,402 parameters), seeded, with fixed layer names so two builds match. */
export function cifarCnn(): tf.LayersModel {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const conv = (name: string, filters: number, seed: number, inputShape?: number[]) =>
    tf.layers.conv2d({ name, ...(inputShape ? { inputShape } : {}), filters, kernelSize: 3, padding: "same", activation: "relu", kernelInitializer: init(seed) });
  return tf.sequential({
    name: "cnn-cifar",
    layers: [
      conv("l1", 32, 1, [32, 32, 3]), conv("l2", 32, 2), tf.layers.maxPooling2d({ name: "l3", poolSize: 2 }),
      conv("l4", 64, 3), conv("l5", 64, 4), tf.layers.maxPooling2d({ name: "l6", poolSize: 2 }),
      tf.layers.flatten({ name: "flat" }),
      tf.layers.dense({ name: "l7", units: 256, activation: "relu", kernelInitializer: init(5) }),
      tf.layers.dense({ name: "l8", units: 10, activation: "softmax", kernelInitializer: init(6) }),
    ],
  });
}

/** Seeded uniform 32×32×3 images and labels. */
export function cifarRandomData(count: number, seed: number): DataSource {
  const rng = createRng(seed);
  const x = new Float32Array(count * 32 * 32 * 3).map(() => rng.next());
  const y = new Float32Array(count).map(() => rng.int(10));
  return arraySource("random 32×32×3", x, y, [32, 32, 3]);
}

export interface ThreadsRow {
  threads: number;
  samplesPerSec: number;
  cpuSeconds: number;
  samplesPerCpuSec: number;
  /** This thread's CPU milliseconds per step (the whole step, batching included). */
  mainCpuMsPerStep: number;
  /** The workers' CPU milliseconds per step per worker (0 with one thread). */
  workerCpuMsPerStep: number;
  /** Wall-time samples/s over one thread's. */
  speedup: number;
  /** One thread's CPU per step over this run's critical path per step. */
  idealSpeedup: number;
  /**
   * CPU per sample of the busiest thread (its shard's rows) over one thread's per sample: how much
   * dearer a sample is when every thread computes at once (1 = no contention, no fixed costs).
   */
  cpuPerSampleVsOne: number;
  /** Largest |w − w(1 thread)| after training. */
  maxAbsDiff: number;
  /** Per step, CPU and wall ms of each phase ("main.*" this thread, "workers.*" per worker). */
  phases: Record<string, { cpuMs: number; wallMs: number }>;
}

const cpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/**
 * Trains the CIFAR-sized CNN one epoch of `samples` with each thread count (a warm-up run of two
 * batches first starts the workers, which later runs reuse) and returns a row per count.
 */
export async function compareThreads(options: { threads: number[]; samples: number; batch: number; lr?: number; microBatch?: number }): Promise<ThreadsRow[]> {
  const { samples, batch } = options;
  const counts = [...new Set([1, ...options.threads])].sort((a, b) => a - b);
  const data = cifarRandomData(samples, 1);
  const rows: ThreadsRow[] = [];
  let reference: Float32Array[] | undefined;
  let one: { rate: number; cpuPerStep: number } | undefined;
  try {
    for (const threads of counts) {
      const warm = cifarCnn();
      await trainLocal({ model: warm, data: cifarRandomData(batch * 2, 2), epochs: 1, batchSize: batch, lr: 0.01, seed: 1, threads, microBatch: options.microBatch });
      warm.dispose();
      const model = cifarCnn();
      const cpu0 = cpuSeconds();
      const main0 = threadCpuMs() ?? NaN;
      const wall0 = performance.now();
      const result = await trainLocal({ model, data, epochs: 1, batchSize: batch, lr: options.lr ?? 0.01, seed: 7, threads, profile: true, microBatch: options.microBatch });
      const wall = (performance.now() - wall0) / 1000;
      const mainMs = (threadCpuMs() ?? NaN) - main0;
      const cpu = cpuSeconds() - cpu0;
      model.dispose();
      const steps = Math.ceil(samples / batch);
      const phases: ThreadsRow["phases"] = {};
      const profile = result.step.profile;
      for (const [name, t] of Object.entries(profile?.phases ?? {})) {
        const per = name.startsWith("workers.") ? (threads - 1) * profile!.steps : profile!.steps;
        phases[name] = { cpuMs: t.cpuMs / per, wallMs: t.wallMs / per };
      }
      const mainCpuMsPerStep = mainMs / steps;
      const workerCpuMsPerStep = Object.entries(phases).filter(([n]) => n.startsWith("workers.")).reduce((a, [, t]) => a + t.cpuMs, 0);
      const weights = result.weights.map((w) => w.data);
      reference ??= weights;
      let maxAbsDiff = 0;
      weights.forEach((w, i) => w.forEach((v, k) => (maxAbsDiff = Math.max(maxAbsDiff, Math.abs(v - reference![i][k])))));
      const rate = samples / wall;
      one ??= { rate, cpuPerStep: mainCpuMsPerStep };
      const busiest = Math.max(mainCpuMsPerStep, workerCpuMsPerStep) / Math.ceil(batch / threads);
      rows.push({
        threads,
        samplesPerSec: rate,
        cpuSeconds: cpu,
        samplesPerCpuSec: samples / cpu,
        mainCpuMsPerStep,
        workerCpuMsPerStep,
        speedup: rate / one.rate,
        idealSpeedup: one.cpuPerStep / Math.max(mainCpuMsPerStep, workerCpuMsPerStep),
        cpuPerSampleVsOne: busiest / (one.cpuPerStep / batch),
        maxAbsDiff,
        phases,
      });
    }
  } finally {
    await stopIdleWorkers();
  }
  return rows;
}

/** The rows as a table (one line each). */
export function formatThreads(rows: ThreadsRow[]): string[] {
  const header = ["threads", "samples/s", "× 1 thread", "CPU s", "samples/CPU s", "main CPU ms/step", "worker CPU ms/step", "ideal ×", "CPU/sample × 1t", "max |Δw|"];
  const lines = rows.map((r) => [
    String(r.threads), r.samplesPerSec.toFixed(1), r.speedup.toFixed(2), r.cpuSeconds.toFixed(2), r.samplesPerCpuSec.toFixed(1),
    r.mainCpuMsPerStep.toFixed(1), r.workerCpuMsPerStep.toFixed(1), r.idealSpeedup.toFixed(2), r.cpuPerSampleVsOne.toFixed(2), r.maxAbsDiff.toExponential(1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join("  ");
  const out = [fmt(header), ...lines.map(fmt)];
  for (const r of rows.filter((r) => r.threads > 1)) {
    out.push(`  ${r.threads} threads, CPU/wall ms per step by phase: ` + Object.entries(r.phases).map(([n, t]) => `${n} ${t.cpuMs.toFixed(1)}/${t.wallMs.toFixed(1)}`).join(", "));
  }
  return out;
}

export interface InterleavedThreads {
  threads: number;
  batch: number;
  /** Pairs measured (after warm-up steps). */
  pairs: number;
  /** Median wall ms of one step with one thread, and with `threads`. */
  oneMs: number;
  manyMs: number;
  /** Median of the per-pair ratios (one thread's step / `threads`' step, the same batch, back to back). */
  pairRatio: number;
  /** Median process CPU ms of one step (all threads), each way. */
  oneCpuMs: number;
  manyCpuMs: number;
  /** oneMs / manyMs, and manyCpuMs / oneCpuMs. */
  ratioOfMedians: number;
  cpuPerStepRatio: number;
}

/**
 * The one-thread step against the `threads`-thread step on the CIFAR-sized CNN, alternated step by
 * step on two models built alike, each pair on the same random batch (which goes first alternates):
 * a shared machine's speed drifts over seconds, so comparing epochs run minutes apart measures the
 * drift; pairs taken back to back share it. Returns the medians.
 */
export async function interleavedThreads(options: { threads: number; batch: number; pairs: number }): Promise<InterleavedThreads> {
  const { threads, batch, pairs } = options;
  const shape = { inputShape: [32, 32, 3], task: { kind: "classification" as const, classes: 10, fromLogits: false } };
  const models = [cifarCnn(), cifarCnn()];
  const steps = [
    await createTrainStep({ model: models[0], shape, optimizer: tf.train.sgd(0.01), mu: 0, threads: 1 }),
    await createTrainStep({ model: models[1], shape, optimizer: tf.train.sgd(0.01), mu: 0, threads }),
  ];
  const rng = createRng(11);
  const batchOf = (): Sample[] => Array.from({ length: batch }, () => ({ x: new Float32Array(32 * 32 * 3).map(() => rng.next()), y: rng.int(10) }));
  const wall: [number[], number[]] = [[], []];
  const cpu: [number[], number[]] = [[], []];
  const ratios: number[] = [];
  try {
    for (let i = -3; i < pairs; i++) {
      const b = batchOf();
      const took: number[] = [0, 0];
      for (const k of i % 2 === 0 ? [0, 1] : [1, 0]) {
        const c0 = cpuSeconds();
        const t0 = performance.now();
        await steps[k].run(b);
        took[k] = performance.now() - t0;
        if (i >= 0) cpu[k].push((cpuSeconds() - c0) * 1000);
      }
      if (i < 0) continue;
      wall[0].push(took[0]);
      wall[1].push(took[1]);
      ratios.push(took[0] / took[1]);
    }
  } finally {
    for (const s of steps) await s.dispose();
    models.forEach((m) => m.dispose());
    await stopIdleWorkers();
  }
  const [oneMs, manyMs, oneCpuMs, manyCpuMs] = [median(wall[0]), median(wall[1]), median(cpu[0]), median(cpu[1])];
  return { threads, batch, pairs, oneMs, manyMs, pairRatio: median(ratios), oneCpuMs, manyCpuMs, ratioOfMedians: oneMs / manyMs, cpuPerStepRatio: manyCpuMs / oneCpuMs };
}

/** One line for the interleaved figures. */
export function formatInterleaved(r: InterleavedThreads): string {
  return (
    `interleaved steps (${r.pairs} pairs, batch ${r.batch}): 1 thread ${r.oneMs.toFixed(1)} ms/step (${r.oneCpuMs.toFixed(0)} ms CPU), ` +
    `${r.threads} threads ${r.manyMs.toFixed(1)} ms/step (${r.manyCpuMs.toFixed(0)} ms CPU); median pair ratio ×${r.pairRatio.toFixed(2)}, ` +
    `ratio of medians ×${r.ratioOfMedians.toFixed(2)}, CPU per step ×${r.cpuPerStepRatio.toFixed(2)}`
  );
}
