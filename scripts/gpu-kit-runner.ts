/**
 * The GPU check of the offline kit (`npm run gpu-kit` bundles this file): trains the fixture CNN
 * and a CIFAR-sized CNN (32×32×3, conv32-conv32-pool-conv64-conv64-pool-dense256-10, batch 64) on
 * wasm and on WebGPU from the same initial weights and batches, and prints samples/s per backend,
 * the ratio and how far the two deltas are apart, as a table and one JSON line.
 *
 * Then a CPU section: the CIFAR-sized CNN on wasm with 1 thread, 2 threads and every core
 * (data-parallel worker threads, gpu-kit-threads.ts), samples/s, the ratios, CPU time and the
 * per-phase profile. For a 2-core figure on a bigger machine: `taskset -c 0,1 sh run.sh --threads-only`.
 *
 * Flags: --allow-software-gpu (lavapipe/SwiftShader: CI and this kit's own test), --quick (few
 * samples; checks the kit works, figures mean little), --samples <n> (per model, default 1024),
 * --fixture-only (skip the CIFAR-sized CNN: the kit's own test on a software adapter),
 * --threads-only (only the CPU section; no GPU needed), --no-threads (skip the CPU section),
 * --cli-threads (only `dat train --threads 1` against `--threads N`: the kit's bundled CLI, dat.mjs,
 * run as whole processes, alternated; --threads N (default 2), --cli-runs N (default 4; 1 with
 * --quick), --cli-samples N (default 1024; 64 with --quick), and with --torch PyTorch on the same
 * thread counts through --python <path> (default python3); a host check before and after),
 * --cpu-samples <n> (CPU section, default 512; 64 with --quick), --pairs <n> (CPU section: 1- and 2-thread
 * steps alternated back to back, the median pair ratio; default 30, 2 with --quick), --micro-batch <n> (CPU section: rows per
 * micro-batch within each thread's shard; 0 whole shards; default: the step's own choice).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

const here = path.dirname(fileURLToPath(import.meta.url));

/** Unpacks `name`.gz beside itself unless `name` is there already. */
function gunzipBeside(target: string): void {
  if (!fs.existsSync(target) && fs.existsSync(target + ".gz")) {
    fs.writeFileSync(target + ".tmp", zlib.gunzipSync(fs.readFileSync(target + ".gz")));
    fs.renameSync(target + ".tmp", target);
  }
}

/** dawn.node travels gzip-compressed to keep the kit small; node alone can unpack it. */
function unpackDawn(): void {
  const dir = path.join(here, "node_modules", "webgpu", "dist", `${process.platform}-${process.arch}`);
  gunzipBeside(path.join(dir, "dawn.node"));
}

interface ModelCase {
  name: string;
  build: () => Promise<import("@tensorflow/tfjs").LayersModel>;
  data: (count: number) => import("../src/train/data/source.js").DataSource;
  batchSize: number;
  lr: number;
}

interface BackendRun {
  samplesPerSec: number;
  seconds: number;
  delta: Float32Array[];
  loss: number;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const allowSoftwareGpu = args.includes("--allow-software-gpu");
  const quick = args.includes("--quick");
  const samplesArg = args.indexOf("--samples");
  const samples = samplesArg >= 0 ? Number(args[samplesArg + 1]) : quick ? 64 : 1024;
  if (args.includes("--cli-threads")) {
    await cliSection(args, quick);
    return;
  }
  if (args.includes("--threads-only")) {
    await cpuSection(args, quick);
    return;
  }
  unpackDawn();
  const { resolveBackend, probeBackends } = await import("../src/train/backends.js");
  const { loadModelDir, getWeightTensors, setWeightTensors } = await import("../src/train/modelIo.js");
  const { trainLocal } = await import("../src/train/trainLocal.js");
  const { syntheticDigits } = await import("../src/train/data/synthetic.js");
  const { arraySource } = await import("../src/train/data/source.js");
  const { cifarCnn } = await import("./gpu-kit-threads.js");

  const webgpuProbe = (await probeBackends({ allowSoftwareGpu })).find((r) => r.name === "webgpu")!;
  if (!webgpuProbe.available) {
    console.error(`webgpu is not available: ${webgpuProbe.reason}\n${webgpuProbe.hint ?? ""}`);
    console.log(JSON.stringify({ kit: "dat-gpu-kit", ok: false, reason: webgpuProbe.reason, adapter: webgpuProbe.adapter ?? null }));
    process.exitCode = 7;
    return;
  }

  /** Seeded 32×32×3 images whose class sets a coloured square's place, so the loss falls. */
  function cifarLike(count: number) {
    const pixels = 32 * 32 * 3;
    const x = new Float32Array(count * pixels);
    const y = new Int32Array(count);
    let state = 2463534242;
    const next = () => ((state ^= state << 13), (state ^= state >>> 17), (state ^= state << 5), (state >>> 0) / 4294967296);
    for (let i = 0; i < count; i++) {
      const label = i % 10;
      y[i] = label;
      for (let p = 0; p < pixels; p++) x[i * pixels + p] = next() * 0.3;
      const r0 = 2 + 3 * (label % 5);
      const c0 = 4 + 12 * Math.floor(label / 5);
      for (let r = r0; r < r0 + 8; r++) for (let c = c0; c < c0 + 8; c++) x[i * pixels + (r * 32 + c) * 3 + (label % 3)] = 1;
    }
    return arraySource("cifar-like", x, y, [32, 32, 3]);
  }

  const cases: ModelCase[] = [
    { name: "fixture CNN (cnn-digits, 28×28×1)", build: () => loadModelDir(path.join(here, "fixtures", "cnn-digits")), data: (n) => syntheticDigits({ count: n, seed: 11 }), batchSize: 32, lr: 0.01 },
    {
      name: "CIFAR-sized CNN (32×32×3)",
      // Fixed layer names: weights copied between two builds must match by name.
      build: async () => cifarCnn(),
      data: (n) => cifarLike(n),
      batchSize: 64,
      lr: 0.01,
    },
  ];

  const rows: Record<string, unknown>[] = [];
  for (const c of args.includes("--fixture-only") ? cases.slice(0, 1) : cases) {
    // Same initial weights on both backends: built once on the CPU, then copied.
    await resolveBackend("cpu");
    const initial = await c.build();
    const weights = await getWeightTensors(initial);
    initial.dispose();
    const params = weights.reduce((a, w) => a + w.data.length, 0);
    const runs: Record<string, BackendRun> = {};
    for (const backend of ["wasm", "webgpu"] as const) {
      await resolveBackend(backend, { allowSoftwareGpu });
      const model = await c.build();
      // Warm-up: compiles shaders / kernels on a copy, outside the timed run.
      setWeightTensors(model, weights);
      await trainLocal({ model, data: c.data(c.batchSize * 2), epochs: 1, batchSize: c.batchSize, lr: c.lr, seed: 5, threads: 1 });
      setWeightTensors(model, weights);
      const started = performance.now();
      const result = await trainLocal({ model, data: c.data(samples), epochs: 1, batchSize: c.batchSize, lr: c.lr, seed: 7, threads: 1 });
      const seconds = (performance.now() - started) / 1000;
      runs[backend] = { samplesPerSec: samples / seconds, seconds, delta: result.delta.map((d) => d.data), loss: result.metrics.loss };
      model.dispose();
    }
    let maxAbsDiff = 0;
    runs.wasm.delta.forEach((d, i) => d.forEach((v, k) => (maxAbsDiff = Math.max(maxAbsDiff, Math.abs(v - runs.webgpu.delta[i][k])))));
    rows.push({
      model: c.name,
      params,
      batch: c.batchSize,
      samples,
      wasmSamplesPerSec: Number(runs.wasm.samplesPerSec.toFixed(1)),
      webgpuSamplesPerSec: Number(runs.webgpu.samplesPerSec.toFixed(1)),
      ratio: Number((runs.webgpu.samplesPerSec / runs.wasm.samplesPerSec).toFixed(3)),
      maxAbsDiff,
      lossWasm: runs.wasm.loss,
      lossWebgpu: runs.webgpu.loss,
    });
  }

  const header = ["model", "params", "batch", "wasm samples/s", "webgpu samples/s", "webgpu/wasm", "max |Δwebgpu−Δwasm|"];
  const lines = rows.map((r) => [String(r.model), String(r.params), String(r.batch), String(r.wasmSamplesPerSec), String(r.webgpuSamplesPerSec), `${r.ratio}×`, (r.maxAbsDiff as number).toExponential(2)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i])).join("  ");
  console.log(`adapter: ${webgpuProbe.detail}; node ${process.version}; ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"})`);
  console.log(fmt(header));
  for (const l of lines) console.log(fmt(l));
  console.log(JSON.stringify({ kit: "dat-gpu-kit", ok: true, adapter: webgpuProbe.adapter, node: process.version, cpus: os.cpus().length, quick, results: rows }));
  if (!args.includes("--no-threads")) await cpuSection(args, quick);
}

/** The CIFAR-sized CNN on wasm with 1, 2 and all cores (as many as this process may run on: taskset counts). */
async function cpuSection(args: string[], quick: boolean): Promise<void> {
  const { resolveBackend } = await import("../src/train/backends.js");
  const { compareThreads, formatInterleaved, formatThreads, interleavedThreads } = await import("./gpu-kit-threads.js");
  const at = args.indexOf("--cpu-samples");
  const samples = at >= 0 ? Number(args[at + 1]) : quick ? 64 : 512;
  const mb = args.indexOf("--micro-batch");
  const microBatch = mb >= 0 ? Number(args[mb + 1]) : undefined;
  const cores = os.availableParallelism();
  await resolveBackend("wasm");
  const rows = await compareThreads({ threads: [1, Math.min(2, cores), cores], samples, batch: 32, microBatch });
  console.log(`\nCPU: CIFAR-sized CNN on wasm, batch 32, ${samples} samples, sgd${microBatch !== undefined ? `, micro-batches of ${microBatch}` : ""}; ${cores} cores available (${os.cpus()[0]?.model ?? "?"}); load ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  for (const line of formatThreads(rows)) console.log(line);
  const pp = args.indexOf("--pairs");
  const pairs = pp >= 0 ? Number(args[pp + 1]) : quick ? 2 : 30;
  const inter = cores > 1 ? await interleavedThreads({ threads: Math.min(2, cores), batch: 32, pairs }) : undefined;
  if (inter) console.log(formatInterleaved(inter));
  const round = (v: number, d = 3) => Number(v.toFixed(d));
  console.log(JSON.stringify({
    kit: "dat-gpu-kit", section: "cpu-threads", node: process.version, cores, cpu: os.cpus()[0]?.model ?? null, samples, batch: 32, microBatch: microBatch ?? null, quick,
    results: rows.map((r) => ({
      threads: r.threads, samplesPerSec: round(r.samplesPerSec, 1), speedup: round(r.speedup), cpuSeconds: round(r.cpuSeconds, 2),
      samplesPerCpuSec: round(r.samplesPerCpuSec, 1), mainCpuMsPerStep: round(r.mainCpuMsPerStep, 1), workerCpuMsPerStep: round(r.workerCpuMsPerStep, 1),
      idealSpeedup: round(r.idealSpeedup), cpuPerSampleVsOne: round(r.cpuPerSampleVsOne), maxAbsDiff: r.maxAbsDiff,
    })),
    interleaved: inter
      ? { threads: inter.threads, pairs: inter.pairs, pairRatio: round(inter.pairRatio), ratioOfMedians: round(inter.ratioOfMedians), oneMsPerStep: round(inter.oneMs, 1), manyMsPerStep: round(inter.manyMs, 1), cpuPerStepRatio: round(inter.cpuPerStepRatio) }
      : null,
  }));
}

/**
 * `dat train --threads 1` against `--threads N` on the CIFAR-sized CNN, whole processes of the kit's
 * bundled CLI (dat.mjs: src/cli/main.ts, as bin/dat.js runs it), alternated, with the host check
 * before and after and, with --torch, PyTorch on the same thread counts.
 */
async function cliSection(args: string[], quick: boolean): Promise<void> {
  const { arithmeticCheck, compareCliThreads, formatCli, torchRate } = await import("./gpu-kit-threads.js");
  const { numberOption, option } = await import("../test/bench/stats.js");
  const threads = numberOption(args, "--threads", 2);
  const samples = numberOption(args, "--cli-samples", quick ? 64 : 1024);
  const runs = numberOption(args, "--cli-runs", quick ? 1 : 4);
  const batch = 32;
  if (!Number.isInteger(threads) || threads < 2) throw new Error(`--threads must be an integer ≥ 2 (got ${args[args.indexOf("--threads") + 1]})`);
  const dat = path.join(here, "dat.mjs");
  gunzipBeside(dat);
  gunzipBeside(path.join(here, "node_modules", "better-sqlite3", "build", "Release", "better_sqlite3.node"));
  if (!fs.existsSync(dat)) throw new Error("this kit has no dat.mjs (built with --no-cli?)");
  const cores = os.availableParallelism();
  const hostBefore = await arithmeticCheck(threads);
  const cli = await compareCliThreads({ dat: [process.execPath, dat], threads, samples, batch, runs });
  const hostAfter = await arithmeticCheck(threads);
  const python = option(args, "--python", "python3");
  const torch = args.includes("--torch")
    ? Object.fromEntries([1, threads].map((t) => [t, torchRate(python, "cnn-cifar", quick ? 64 : 512, batch, t, quick ? 1 : 3) ?? null]))
    : null;
  console.log(`CLI: ${cores} cores available (${os.cpus()[0]?.model ?? "?"}); node ${process.version}; load ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  console.log(formatCli(cli));
  console.log(`host check: ${threads} threads of pure arithmetic at once, time per thread ×${hostBefore.toFixed(2)} of one alone before, ×${hostAfter.toFixed(2)} after (1.00: the cores are free)`);
  if (torch) {
    for (const [t, r] of Object.entries(torch)) {
      console.log(r ? `PyTorch ${r.torch} cnn-cifar, ${t} thread(s): ${r.rate.toFixed(1)} samples/s wall, ${r.cpuRate.toFixed(1)} per CPU s` : `PyTorch: ${python} cannot import torch`);
    }
  }
  const round = (v: number, d = 3) => Number(v.toFixed(d));
  console.log(JSON.stringify({
    kit: "dat-gpu-kit", section: "cli-threads", node: process.version, cores, cpu: os.cpus()[0]?.model ?? null, quick,
    threads, samples, batch, runs,
    wallS: { 1: round(cli.wallS[1], 2), [threads]: round(cli.wallS[threads], 2) },
    cpuS: { 1: round(cli.cpuS[1], 2), [threads]: round(cli.cpuS[threads], 2) },
    trainS: { 1: round(cli.trainS[1], 2), [threads]: round(cli.trainS[threads], 2) },
    speedup: round(cli.speedup), trainSpeedup: round(cli.trainSpeedup), pairSpeedup: round(cli.pairSpeedup), pairTrainSpeedup: round(cli.pairTrainSpeedup),
    pairSpeedups: cli.pairSpeedups.map((r) => round(r)), pairTrainSpeedups: cli.pairTrainSpeedups.map((r) => round(r)),
    deltaMaxAbsDiff: cli.deltaMaxAbsDiff, hostArithmeticBefore: round(hostBefore), hostArithmeticAfter: round(hostAfter),
    torch: torch && Object.fromEntries(Object.entries(torch).map(([t, r]) => [t, r && { torch: r.torch, samplesPerSec: round(r.rate, 1), samplesPerCpuSec: round(r.cpuRate, 1) }])),
  }));
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  },
);
