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
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { probeBackends, resolveBackend, type BackendName } from "../../src/train/backends.js";
import { syntheticDigits } from "../../src/train/data/synthetic.js";
import { loadModelDir } from "../../src/train/modelIo.js";
import { trainLocal } from "../../src/train/trainLocal.js";
import {
  arithmeticCheck, cifarCnn, cifarRandomData, compareCliThreads, compareThreads, formatCli, formatInterleaved, formatThreads, interleavedThreads, torchRate, type TorchRate,
} from "../../scripts/gpu-kit-threads.js";
import { median, numberOption } from "./stats.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Debian's system python3 (python3-torch), not a pyenv one earlier on PATH. */
const PYTHON = "/usr/bin/python3";

type ModelName = "mlp-digits" | "cnn-digits" | "cnn-cifar";

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
  const torchAvailable = !threadsOnly && torchRate(PYTHON, "mlp-digits", 64, 32, 1, 1) !== undefined;
  const threadCounts = [...new Set([1, allThreads])];
  for (const model of threadsOnly ? [] : (["mlp-digits", "cnn-digits", "cnn-cifar"] as ModelName[])) {
    const n0 = model === "cnn-cifar" ? cifarSamples : samples;
    const flopPerSample = trainFlopPerSample(await buildModel(model));
    const torch = new Map<number, TorchRate>();
    if (torchAvailable) for (const t of threadCounts) torch.set(t, torchRate(PYTHON, model, n0, batch, t, repeats)!);
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
    const cli = await compareCliThreads({ dat: [process.execPath, path.join(root, "bin/dat.js")], threads: allThreads, samples: cifarSamples, batch, runs: numberOption(args, "--cli-runs", 1) });
    const two = (v: number) => Number(v.toFixed(2));
    const three = (v: number) => Number(v.toFixed(3));
    Object.assign(figures, {
      cli_runs: cli.runs,
      cli_threads_1_wall_s: two(cli.wallS[1]), cli_threads_1_cpu_s: two(cli.cpuS[1]), cli_threads_1_train_s: two(cli.trainS[1]),
      [`cli_threads_${allThreads}_wall_s`]: two(cli.wallS[allThreads]), [`cli_threads_${allThreads}_cpu_s`]: two(cli.cpuS[allThreads]), [`cli_threads_${allThreads}_train_s`]: two(cli.trainS[allThreads]),
      cli_delta_max_abs_diff: Number(cli.deltaMaxAbsDiff.toExponential(2)),
      cli_speedup: three(cli.speedup), cli_train_speedup: three(cli.trainSpeedup), cli_pair_speedup: three(cli.pairSpeedup), cli_pair_train_speedup: three(cli.pairTrainSpeedup),
    });
    console.log(formatCli(cli));
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
