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
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Worker } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { arraySource, type DataSource, type Sample } from "../src/train/data/source.js";
import { stopIdleWorkers } from "../src/train/parallel/pool.js";
import { threadCpuMs } from "../src/train/parallel/threadCpu.js";
import { saveModelDir } from "../src/train/modelIo.js";
import { createRng } from "../src/train/rng.js";
import { readDeltaFiles } from "../src/train/run.js";
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

/**
 * Whether this machine's cores are free right now: the same arithmetic loop (no memory traffic) on one
 * worker thread alone, then on `threads` at once; the median over `rounds` of the per-thread time ratio
 * (1.00: `threads` cores compute side by side as fast as one; 2.00: they share one core's worth). Taken
 * beside the thread comparisons, it tells a slow multi-thread figure caused by the host from one caused
 * by dat.
 */
export async function arithmeticCheck(threads: number, rounds = 3): Promise<number> {
  const code = `const { parentPort } = require("node:worker_threads");
parentPort.on("message", (n) => { const t0 = performance.now(); let x = 0; for (let i = 0; i < n; i++) x += Math.sqrt(i) * 1.0000001; parentPort.postMessage([performance.now() - t0, x]); });`;
  const workers = Array.from({ length: threads }, () => new Worker(code, { eval: true }));
  const run = (w: Worker, n: number): Promise<number> => new Promise((resolve) => { w.once("message", (m: [number, number]) => resolve(m[0])); w.postMessage(n); });
  try {
    await Promise.all(workers.map((w) => run(w, 1e7)));
    const ratios: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const alone = await run(workers[0], 1e8);
      const together = await Promise.all(workers.map((w) => run(w, 1e8)));
      ratios.push(median(together) / alone);
    }
    return median(ratios);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** Medians of the alternated `dat train` runs (seconds), the ratios, and the deltas' largest difference. */
export interface CliComparison {
  threads: number;
  samples: number;
  batch: number;
  runs: number;
  /** Median whole-process wall, CPU (all threads, bash's `time`) and training-epoch seconds, by thread count. */
  wallS: Record<number, number>;
  cpuS: Record<number, number>;
  trainS: Record<number, number>;
  /** One thread's median over `threads`' median: whole process, and training epochs. */
  speedup: number;
  trainSpeedup: number;
  /** Medians of each back-to-back pair's ratio, and every pair's ratio in run order. */
  pairSpeedup: number;
  pairTrainSpeedup: number;
  pairSpeedups: number[];
  pairTrainSpeedups: number[];
  /** Largest |Δ(1 thread) − Δ(`threads`)| over every pair. */
  deltaMaxAbsDiff: number;
}

/**
 * `dat train` on the CIFAR-sized CNN with --threads N against --threads 1 (wasm, one epoch of
 * `samples` seeded CSV rows), `runs` times with the order alternating: each pair back to back shares
 * the machine's drift. `dat` is the command that starts the CLI ([node, bin/dat.js] in a checkout,
 * [node, dat.mjs] in the GPU kit). Whole-process CPU time comes from bash's `time` (every thread of
 * the child), so bash must be on PATH.
 */
export async function compareCliThreads(options: { dat: string[]; threads: number; samples: number; batch: number; runs: number }): Promise<CliComparison> {
  const { dat, threads, samples, batch, runs } = options;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dat-cli-threads-"));
  try {
    const model = cifarCnn();
    await saveModelDir(model, path.join(dir, "model"));
    model.dispose();
    const rng = createRng(3);
    const rows = ["label," + Array.from({ length: 3072 }, (_, i) => `p${i}`).join(",")];
    for (let r = 0; r < samples; r++) rows.push(`${rng.int(10)},` + Array.from({ length: 3072 }, () => rng.next().toFixed(3)).join(","));
    fs.writeFileSync(path.join(dir, "data.csv"), rows.join("\n") + "\n");
    const runOnce = async (n: number, k: number): Promise<{ wall: number; cpu: number; train: number; delta: Awaited<ReturnType<typeof readDeltaFiles>> }> => {
      const args = [...dat, "train", "--model", path.join(dir, "model"), "--data", path.join(dir, "data.csv"), "--epochs", "1",
        "--batch-size", String(batch), "--lr", "0.01", "--val-split", "0", "--seed", "7", "--backend", "wasm", "--threads", String(n), "--json"];
      const t0 = performance.now();
      const stdout = execFileSync("bash", ["-c", `TIMEFORMAT='%U %S'; { time ${args.map((a) => JSON.stringify(a)).join(" ")} 2>/dev/null ; } 2>&1`], {
        encoding: "utf8",
        env: { ...process.env, DAT_HOME: path.join(dir, `home-${n}-${k}`) },
        maxBuffer: 64 << 20,
      });
      const wall = (performance.now() - t0) / 1000;
      const lines = stdout.trim().split("\n");
      const [user, sys] = lines.pop()!.split(" ").map(Number);
      const result = JSON.parse(lines.join("\n")) as { deltaPath: string; threads: number; metrics: { epochs: { seconds: number }[] } };
      if (result.threads !== n) throw new Error(`dat train --threads ${n} ran ${result.threads} thread(s)`);
      return { wall, cpu: user + sys, train: result.metrics.epochs.reduce((a, e) => a + e.seconds, 0), delta: await readDeltaFiles(result.deltaPath) };
    };
    const taken: Record<number, Awaited<ReturnType<typeof runOnce>>[]> = { 1: [], [threads]: [] };
    const pairSpeedups: number[] = [];
    const pairTrainSpeedups: number[] = [];
    let worst = 0;
    for (let k = 0; k < runs; k++) {
      for (const n of k % 2 === 0 ? [1, threads] : [threads, 1]) taken[n].push(await runOnce(n, k));
      const [one, many] = [taken[1][k], taken[threads][k]];
      pairSpeedups.push(one.wall / many.wall);
      pairTrainSpeedups.push(one.train / many.train);
      one.delta.forEach((w, i) => w.data.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - many.delta[i].data[j])))));
    }
    const of = (pick: (t: (typeof taken)[number][number]) => number) => Object.fromEntries([1, threads].map((n) => [n, median(taken[n].map(pick))]));
    const [wallS, cpuS, trainS] = [of((t) => t.wall), of((t) => t.cpu), of((t) => t.train)];
    return {
      threads, samples, batch, runs, wallS, cpuS, trainS,
      speedup: wallS[1] / wallS[threads],
      trainSpeedup: trainS[1] / trainS[threads],
      pairSpeedup: median(pairSpeedups),
      pairTrainSpeedup: median(pairTrainSpeedups),
      pairSpeedups,
      pairTrainSpeedups,
      deltaMaxAbsDiff: worst,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** One line for a CLI comparison. */
export function formatCli(c: CliComparison): string {
  const n = c.threads;
  return (
    `dat train cnn-cifar ${c.samples} samples, batch ${c.batch}, median of ${c.runs} alternated run(s): --threads 1 ${c.wallS[1].toFixed(2)} s wall, ${c.cpuS[1].toFixed(2)} s CPU; ` +
    `--threads ${n} ${c.wallS[n].toFixed(2)} s wall, ${c.cpuS[n].toFixed(2)} s CPU (×${c.speedup.toFixed(3)}); training epochs ${c.trainS[1].toFixed(2)} s vs ${c.trainS[n].toFixed(2)} s ` +
    `(×${c.trainSpeedup.toFixed(3)}); pair ratios ${c.pairSpeedups.map((r) => r.toFixed(2)).join(" ")} (median ×${c.pairSpeedup.toFixed(3)}), epochs ` +
    `${c.pairTrainSpeedups.map((r) => r.toFixed(2)).join(" ")} (median ×${c.pairTrainSpeedup.toFixed(3)}); deltas differ by ≤ ${c.deltaMaxAbsDiff.toExponential(2)}`
  );
}

/** PyTorch's side of the comparison: the same three models, SGD, the same batch; prints one JSON line. */
export const TORCH_SCRIPT = String.raw`
import os, sys, time, json, torch, torch.nn as nn
threads = int(sys.argv[4]); torch.set_num_threads(threads); torch.manual_seed(0)
kind, samples, batch, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[5])
if kind == "mlp-digits":
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10)); shape = (1, 28, 28)
elif kind == "cnn-digits":
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16*5*5, 10)); shape = (1, 28, 28)
else:
    model = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64*8*8, 256), nn.ReLU(), nn.Linear(256, 10)); shape = (3, 32, 32)
x = torch.rand(samples, *shape); y = torch.randint(0, 10, (samples,))
opt = torch.optim.SGD(model.parameters(), lr=0.01); loss_fn = nn.CrossEntropyLoss()
def epoch():
    for i in range(0, samples, batch):
        opt.zero_grad(); loss = loss_fn(model(x[i:i+batch]), y[i:i+batch]); loss.backward(); opt.step()
epoch()
rates, cpu_rates = [], []
for _ in range(repeats):
    t = time.perf_counter(); c = time.process_time(); epoch()
    rates.append(samples / (time.perf_counter() - t)); cpu_rates.append(samples / (time.process_time() - c))
rates.sort(); cpu_rates.sort()
print(json.dumps({"rate": rates[len(rates)//2], "cpuRate": cpu_rates[len(cpu_rates)//2], "threads": torch.get_num_threads(),
    "omp": os.environ.get("OMP_NUM_THREADS"), "openblas": os.environ.get("OPENBLAS_NUM_THREADS"), "torch": torch.__version__}))
`;

export interface TorchRate {
  /** Samples per second of wall time. */
  rate: number;
  /** Samples per second of the process's CPU time (all its threads): what a loaded machine distorts least. */
  cpuRate: number;
  threads: number;
  torch: string;
}

/**
 * PyTorch's training rate for `kind` on `threads` threads (OpenMP, OpenBLAS and MKL all held to
 * them: OpenBLAS ignores torch.set_num_threads), or undefined where `python` cannot import torch.
 * Throws where PyTorch ran another number of threads than asked.
 */
export function torchRate(python: string, kind: string, samples: number, batch: number, threads: number, repeats: number): TorchRate | undefined {
  try {
    const out = execFileSync(python, ["-c", TORCH_SCRIPT, kind, String(samples), String(batch), String(threads), String(repeats)], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 600_000,
      env: { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) },
    });
    const result = JSON.parse(out.trim().split("\n").pop()!) as TorchRate & { omp: string; openblas: string };
    if (result.threads !== threads || result.omp !== String(threads) || result.openblas !== String(threads)) {
      throw new Error(`PyTorch ran ${result.threads} threads (OMP ${result.omp}, OpenBLAS ${result.openblas}), not ${threads}`);
    }
    return { rate: result.rate, cpuRate: result.cpuRate, threads: result.threads, torch: result.torch };
  } catch (error) {
    if ((error as Error).message.startsWith("PyTorch ran")) throw error;
    return undefined;
  }
}
