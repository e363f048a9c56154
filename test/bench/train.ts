/**
 * Training speed: the fixture MLP and CNN and a CIFAR-sized CNN (32×32×3,
 * conv32-conv32-pool-conv64-conv64-pool-dense256-10, 1.1M parameters) trained on each tfjs
 * backend that loads here, wasm on one thread and on every core (data-parallel worker threads),
 * in samples/s of wall time and of CPU time (median of a few epochs after a warm-up), and in
 * GFLOP/s (forward and backward counted analytically). Where `/usr/bin/python3 -c "import torch"`
 * works, the same architectures, shapes, batch size and thread counts train in PyTorch in the same
 * run (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and torch.set_num_threads set alike, and checked).
 * Then the threads section (scripts/gpu-kit-threads.ts, the GPU kit's CPU section too): the
 * CIFAR-sized CNN on wasm with 1, 2 and N threads from the same weights on the same batches —
 * samples/s of wall time, CPU seconds, this thread's and a worker's CPU per step, the ideal
 * speedup the CPU times allow (what a loaded machine distorts least), the per-phase profile, and
 * the weights' largest difference from one thread's.
 * With --cli, `dat train --threads N` against `--threads 1` on the CIFAR-sized CNN (built dist/
 * needed), `--cli-runs N` times (1), the order alternating: whole-process wall and CPU time, the
 * training epochs' time (medians, and the median of each back-to-back pair's ratio), and the
 * deltas compared.
 * Then the same two steps alternated step by step on the same batches (`--pairs N`, 30): the median
 * of the per-pair ratios, what a machine whose speed drifts over seconds distorts least. Before and
 * after the threads section, a host check: pure arithmetic on all threads at once against one alone.
 * Args: --samples N (2048), --cifar-samples N (512), --batch N (32), --repeats N (3), --pairs N (30),
 * --backends wasm,cpu (default: all that load), --threads N (default: the cores available), --cli, --cli-runs N,
 * --threads-only (only the threads section, and --cli if given).
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { probeBackends, resolveBackend, type BackendName } from "../../src/train/backends.js";
import { syntheticDigits } from "../../src/train/data/synthetic.js";
import { loadModelDir, saveModelDir } from "../../src/train/modelIo.js";
import { readDeltaFiles } from "../../src/train/run.js";
import { createRng } from "../../src/train/rng.js";
import { trainLocal } from "../../src/train/trainLocal.js";
import { cifarCnn, cifarRandomData, compareThreads, formatInterleaved, formatThreads, interleavedThreads } from "../../scripts/gpu-kit-threads.js";
import { median, numberOption } from "./stats.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

type ModelName = "mlp-digits" | "cnn-digits" | "cnn-cifar";

const TORCH_SCRIPT = String.raw`
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
    "omp": os.environ.get("OMP_NUM_THREADS"), "openblas": os.environ.get("OPENBLAS_NUM_THREADS")}))
`;

interface Rate {
  /** Samples per second of wall time. */
  rate: number;
  /** Samples per second of the process's CPU time (all its threads): what a loaded machine distorts least. */
  cpuRate: number;
}

function torchRate(kind: string, samples: number, batch: number, threads: number, repeats: number): (Rate & { threads: number }) | undefined {
  try {
    const out = execFileSync("/usr/bin/python3", ["-c", TORCH_SCRIPT, kind, String(samples), String(batch), String(threads), String(repeats)], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 600_000,
      env: { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) },
    });
    const result = JSON.parse(out.trim().split("\n").pop()!) as Rate & { threads: number; omp: string; openblas: string };
    if (result.threads !== threads || result.omp !== String(threads) || result.openblas !== String(threads)) {
      throw new Error(`PyTorch ran ${result.threads} threads (OMP ${result.omp}, OpenBLAS ${result.openblas}), not ${threads}`);
    }
    return result;
  } catch (error) {
    if ((error as Error).message.startsWith("PyTorch ran")) throw error;
    return undefined;
  }
}

/**
 * Floating-point operations of one sample's training step: per conv or dense layer, 2·MACs for the
 * forward pass, as many for the weight gradient, and as many for the input gradient except at the
 * first weighted layer (nobody needs the data's gradient). Pools, ReLUs, the loss and the
 * optimizer are left out (a few per cent at most).
 */
function trainFlopPerSample(model: tf.LayersModel): number {
  let flop = 0;
  let first = true;
  for (const layer of model.layers) {
    const kernel = layer.weights.find((w) => w.originalName.endsWith("/kernel"));
    if (!kernel) continue;
    const out = layer.outputShape as (number | null)[];
    const positions = out.length === 4 ? (out[1] ?? 1) * (out[2] ?? 1) : 1;
    const forward = 2 * kernel.shape.reduce((a: number, b) => a * (b ?? 1), 1) * positions;
    flop += (first ? 2 : 3) * forward;
    first = false;
  }
  return flop;
}

async function buildModel(name: ModelName): Promise<tf.LayersModel> {
  return name === "cnn-cifar" ? cifarCnn() : loadModelDir(path.join(root, "fixtures", name));
}

const cpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/**
 * Whether this machine's cores are free right now: the same arithmetic loop (no memory traffic) on one
 * worker thread alone, then on `threads` at once; the median over `rounds` of the per-thread time ratio
 * (1.00: `threads` cores compute side by side as fast as one; 2.00: they share one core's worth). Taken
 * beside the thread comparisons, it tells a slow multi-thread figure caused by the host from one caused
 * by dat.
 */
async function arithmeticCheck(threads: number, rounds = 3): Promise<number> {
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

/**
 * wasm `dat train` on the CIFAR-sized CNN with --threads N against --threads 1, `runs` times with
 * the order alternating (each pair back to back shares the machine's drift): the medians of wall,
 * CPU and training-epoch seconds per thread count, the median of each pair's ratio, and the
 * deltas' largest difference.
 */
async function cliComparison(threads: number, samples: number, batch: number, runs: number): Promise<Record<string, number>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dat-bench-train-"));
  try {
    const model = cifarCnn();
    await saveModelDir(model, path.join(dir, "model"));
    model.dispose();
    const rng = createRng(3);
    const rows = ["label," + Array.from({ length: 3072 }, (_, i) => `p${i}`).join(",")];
    for (let r = 0; r < samples; r++) rows.push(`${rng.int(10)},` + Array.from({ length: 3072 }, () => rng.next().toFixed(3)).join(","));
    fs.writeFileSync(path.join(dir, "data.csv"), rows.join("\n") + "\n");
    const runOnce = async (n: number, k: number): Promise<{ wall: number; cpu: number; train: number; delta: Awaited<ReturnType<typeof readDeltaFiles>> }> => {
      const args = [path.join(root, "bin/dat.js"), "train", "--model", path.join(dir, "model"), "--data", path.join(dir, "data.csv"), "--epochs", "1",
        "--batch-size", String(batch), "--lr", "0.01", "--val-split", "0", "--seed", "7", "--backend", "wasm", "--threads", String(n), "--json"];
      const t0 = performance.now();
      // bash's time: the child's user and system CPU seconds, all its threads.
      const stdout = execFileSync("bash", ["-c", `TIMEFORMAT='%U %S'; { time node ${args.map((a) => JSON.stringify(a)).join(" ")} 2>/dev/null ; } 2>&1`], {
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
    const pairRatios: number[] = [];
    const trainRatios: number[] = [];
    let worst = 0;
    for (let k = 0; k < runs; k++) {
      for (const n of k % 2 === 0 ? [1, threads] : [threads, 1]) taken[n].push(await runOnce(n, k));
      const [one, many] = [taken[1][k], taken[threads][k]];
      pairRatios.push(one.wall / many.wall);
      trainRatios.push(one.train / many.train);
      one.delta.forEach((w, i) => w.data.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - many.delta[i].data[j])))));
    }
    const out: Record<string, number> = { cli_runs: runs };
    for (const n of [1, threads]) {
      out[`cli_threads_${n}_wall_s`] = Number(median(taken[n].map((t) => t.wall)).toFixed(2));
      out[`cli_threads_${n}_cpu_s`] = Number(median(taken[n].map((t) => t.cpu)).toFixed(2));
      out[`cli_threads_${n}_train_s`] = Number(median(taken[n].map((t) => t.train)).toFixed(2));
    }
    out.cli_delta_max_abs_diff = Number(worst.toExponential(2));
    out.cli_speedup = Number((out.cli_threads_1_wall_s / out[`cli_threads_${threads}_wall_s`]).toFixed(3));
    out.cli_train_speedup = Number((out.cli_threads_1_train_s / out[`cli_threads_${threads}_train_s`]).toFixed(3));
    out.cli_pair_speedup = Number(median(pairRatios).toFixed(3));
    out.cli_pair_train_speedup = Number(median(trainRatios).toFixed(3));
    return out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export default async function run(args: string[]): Promise<void> {
  const samples = numberOption(args, "--samples", 2048);
  const cifarSamples = numberOption(args, "--cifar-samples", 512);
  const batch = numberOption(args, "--batch", 32);
  const repeats = numberOption(args, "--repeats", 3);
  const allThreads = numberOption(args, "--threads", os.availableParallelism());
  const reports = await probeBackends();
  const only = args.includes("--backends") ? args[args.indexOf("--backends") + 1].split(",") : undefined;
  const usable = reports.filter((r) => r.available && r.name !== "webgpu" && (!only || only.includes(r.name))).map((r) => r.name);
  for (const r of reports.filter((r) => !r.available)) console.log(`skip ${r.name}: ${r.reason}`);
  const load = os.loadavg().map((l) => l.toFixed(2)).join(" ");
  type Row = { model: ModelName; backend: BackendName | "pytorch"; threads: number; rate: number; cpuRate: number; gflops: number; ratio?: number; cpuRatio?: number };
  const rows: Row[] = [];
  const threadsOnly = args.includes("--threads-only");
  const torchAvailable = !threadsOnly && torchRate("mlp-digits", 64, 32, 1, 1) !== undefined;
  const threadCounts = [...new Set([1, allThreads])];
  for (const model of threadsOnly ? [] : (["mlp-digits", "cnn-digits", "cnn-cifar"] as ModelName[])) {
    const n0 = model === "cnn-cifar" ? cifarSamples : samples;
    const flopPerSample = trainFlopPerSample(await buildModel(model));
    const torch = new Map<number, Rate>();
    if (torchAvailable) for (const t of threadCounts) torch.set(t, torchRate(model, n0, batch, t, repeats)!);
    for (const backend of usable) {
      // The plain JS backend is very slow on CNNs: fewer samples, the fixture CNN only, one thread.
      if (backend === "cpu" && model === "cnn-cifar") continue;
      const n = backend === "cpu" && model !== "mlp-digits" ? Math.min(n0, 256) : n0;
      await resolveBackend(backend);
      const data = model === "cnn-cifar" ? cifarRandomData(n, 1) : syntheticDigits({ count: n, seed: 1 });
      for (const threads of backend === "wasm" ? threadCounts : [1]) {
        const m = await buildModel(model);
        const rates: number[] = [];
        const cpuRates: number[] = [];
        let cpuStart = cpuSeconds();
        // The first epoch (which also pays for starting the workers) is the warm-up.
        await trainLocal({
          model: m, data, epochs: repeats + 1, batchSize: batch, lr: 0.01, seed: 1, threads,
          onEpoch: (e) => {
            const now = cpuSeconds();
            if (e.epoch > 1) {
              rates.push(e.samplesPerSec);
              cpuRates.push(e.samples / (now - cpuStart));
            }
            cpuStart = now;
          },
        });
        m.dispose();
        const rate = median(rates);
        const cpuRate = median(cpuRates);
        const t = torch.get(threads);
        rows.push({ model, backend, threads, rate, cpuRate, gflops: (rate * flopPerSample) / 1e9, ratio: t && rate / t.rate, cpuRatio: t && cpuRate / t.cpuRate });
      }
    }
    for (const [threads, t] of torch) rows.push({ model, backend: "pytorch", threads, rate: t.rate, cpuRate: t.cpuRate, gflops: (t.rate * flopPerSample) / 1e9, ratio: 1, cpuRatio: 1 });
  }
  console.log(`\nbatch ${batch}, sgd, median of ${repeats} epochs after one warm-up; fixtures ${samples} samples, cnn-cifar ${cifarSamples}; tfjs ${tf.version.tfjs}`);
  console.log(`load average at start: ${load} (${os.availableParallelism()} cores); at end: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  console.log("wall: samples per second of wall time; cpu: per second of the process's CPU time, all threads (steadier on a loaded machine)");
  const header = ["model".padEnd(10), "backend".padEnd(8), "thr".padStart(3), "wall/s".padStart(8), "GFLOP/s".padStart(8), "× pytorch".padStart(10), "cpu/s".padStart(8), "× pytorch".padStart(10)];
  console.log(header.join("  "));
  const fmt = (v: number | undefined): string => (v === undefined ? "-" : v.toFixed(3)).padStart(10);
  for (const r of rows) {
    console.log([r.model.padEnd(10), r.backend.padEnd(8), String(r.threads).padStart(3), r.rate.toFixed(0).padStart(8), r.gflops.toFixed(1).padStart(8), fmt(r.ratio), r.cpuRate.toFixed(0).padStart(8), fmt(r.cpuRatio)].join("  "));
  }
  if (!torchAvailable && !threadsOnly) console.log("PyTorch not importable by /usr/bin/python3: no ratio.");
  const figures: Record<string, number | string | null> = {};
  for (const r of rows) {
    const key = `${r.model}_${r.backend}_t${r.threads}`;
    figures[`${key}_samples_per_s`] = Math.round(r.rate);
    figures[`${key}_samples_per_cpu_s`] = Math.round(r.cpuRate);
    figures[`${key}_gflops`] = Number(r.gflops.toFixed(2));
    if (r.backend !== "pytorch") {
      figures[`${key}_vs_pytorch`] = r.ratio === undefined ? null : Number(r.ratio.toFixed(3));
      figures[`${key}_cpu_vs_pytorch`] = r.cpuRatio === undefined ? null : Number(r.cpuRatio.toFixed(3));
    }
  }
  for (const model of ["mlp-digits", "cnn-digits", "cnn-cifar"]) {
    const one = rows.find((r) => r.model === model && r.backend === "wasm" && r.threads === 1);
    const all = rows.find((r) => r.model === model && r.backend === "wasm" && r.threads === allThreads);
    if (one && all && allThreads > 1) {
      figures[`${model}_wasm_threads_speedup`] = Number((all.rate / one.rate).toFixed(3));
      figures[`${model}_wasm_threads_cpu_per_sample_ratio`] = Number((one.cpuRate / all.cpuRate).toFixed(3));
      console.log(`${model}: wasm ${allThreads} threads / 1 thread = ${(all.rate / one.rate).toFixed(2)}× wall (CPU per sample ×${(one.cpuRate / all.cpuRate).toFixed(2)})`);
    }
  }
  // The threads section: 1, 2 and all threads on the CIFAR-sized CNN, wall and CPU time and the phase profile.
  await resolveBackend("wasm");
  if (allThreads > 1) figures.host_arithmetic_before = Number((await arithmeticCheck(allThreads)).toFixed(3));
  const threadRows = await compareThreads({ threads: [Math.min(2, allThreads), allThreads], samples: cifarSamples, batch });
  console.log(`\ncnn-cifar on wasm by thread count (${cifarSamples} samples, batch ${batch}, sgd; load ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}):`);
  for (const line of formatThreads(threadRows)) console.log(line);
  for (const r of threadRows) {
    const key = `cnn-cifar_threads_${r.threads}`;
    figures[`${key}_samples_per_s`] = Number(r.samplesPerSec.toFixed(1));
    figures[`${key}_cpu_s`] = Number(r.cpuSeconds.toFixed(2));
    figures[`${key}_main_cpu_ms_per_step`] = Number(r.mainCpuMsPerStep.toFixed(1));
    figures[`${key}_worker_cpu_ms_per_step`] = Number(r.workerCpuMsPerStep.toFixed(1));
    figures[`${key}_speedup`] = Number(r.speedup.toFixed(3));
    figures[`${key}_ideal_speedup`] = Number(r.idealSpeedup.toFixed(3));
    figures[`${key}_max_abs_diff`] = r.maxAbsDiff;
  }
  if (allThreads > 1) {
    // The same comparison step by step, back to back: what a machine whose speed drifts distorts least.
    const pairs = numberOption(args, "--pairs", 30);
    const inter = await interleavedThreads({ threads: allThreads, batch, pairs });
    console.log(formatInterleaved(inter));
    const key = `cnn-cifar_interleaved_${allThreads}`;
    figures[`${key}_pair_ratio`] = Number(inter.pairRatio.toFixed(3));
    figures[`${key}_ratio_of_medians`] = Number(inter.ratioOfMedians.toFixed(3));
    figures[`${key}_one_ms_per_step`] = Number(inter.oneMs.toFixed(1));
    figures[`${key}_many_ms_per_step`] = Number(inter.manyMs.toFixed(1));
    figures[`${key}_cpu_per_step_ratio`] = Number(inter.cpuPerStepRatio.toFixed(3));
  }
  if (args.includes("--cli") && allThreads > 1) {
    const cli = await cliComparison(allThreads, cifarSamples, batch, numberOption(args, "--cli-runs", 1));
    Object.assign(figures, cli);
    console.log(`dat train cnn-cifar ${cifarSamples} samples, median of ${cli.cli_runs} alternated run(s): --threads 1 ${cli.cli_threads_1_wall_s} s wall, ${cli.cli_threads_1_cpu_s} s CPU; --threads ${allThreads} ${cli[`cli_threads_${allThreads}_wall_s`]} s wall, ${cli[`cli_threads_${allThreads}_cpu_s`]} s CPU (×${cli.cli_speedup}); training epochs ${cli.cli_threads_1_train_s} s vs ${cli[`cli_threads_${allThreads}_train_s`]} s (×${cli.cli_train_speedup}); median pair ratio ×${cli.cli_pair_speedup} (epochs ×${cli.cli_pair_train_speedup}); deltas differ by ≤ ${cli.cli_delta_max_abs_diff}`);
  }
  if (allThreads > 1) {
    figures.host_arithmetic_after = Number((await arithmeticCheck(allThreads)).toFixed(3));
    console.log(
      `host check: ${allThreads} threads of pure arithmetic at once, time per thread ×${figures.host_arithmetic_before} of one alone before the threads section, ` +
        `×${figures.host_arithmetic_after} after (1.00: the cores are free; above it, the host shares them)`,
    );
  }
  console.log(JSON.stringify({ bench: "train", samples, cifarSamples, batch, threads: allThreads, load, ...figures }));
}
