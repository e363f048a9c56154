/**
 * Aggregation benchmark.
 *
 *   npm run bench -- aggregate [--count 100] [--params 10000000] [--robust-count 20] [--robust-params 1000000]
 *                              [--many-count 100] [--many-params 100000]
 *
 * Part 1 — streaming FedAvg over `count` deltas of `params` float32 values, the way the orchestrator
 * feeds it: one delta decoded at a time into a reused buffer, so only the accumulator and one
 * delta are ever alive. Generating each delta is not timed; `add` (validation + accumulate) is.
 * Throughput = delta bytes / time, on one core (JS is single-threaded). Memory = peak RSS of the
 * process over one model's bytes, both absolute and above the RSS measured before allocating.
 *
 * Part 2 — every strategy on `robust-count` deltas of `robust-params` values and on `many-count`
 * deltas of `many-params` values, all in memory (the robust rules need them all at once), timed
 * through `Strategy.aggregate`. Krum's cost grows with count², the others linearly.
 */
import os from "node:os";
import { createFedAvgAccumulator, createStrategy, type ClientUpdate } from "../../src/core/aggregate/index.js";
import { median } from "./stats.js";

function argValue(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(args[i + 1]);
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`--${name} needs a positive integer`);
  return value;
}

/** Cheap deterministic fill (xorshift32 → [-0.01, 0.01)), typical magnitude of a training delta. */
function fill(buf: Float32Array, seed: number): void {
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < buf.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    buf[i] = (x / 4294967296 - 0.5) * 0.02;
  }
}

const MB = 1024 * 1024;

export default async function run(args: string[]): Promise<void> {
  const count = argValue(args, "count", 100);
  const params = argValue(args, "params", 10_000_000);
  const robustCount = argValue(args, "robust-count", 20);
  const robustParams = argValue(args, "robust-params", 1_000_000);
  const modelBytes = params * 4;

  // ---- Part 1: streaming FedAvg ----
  (globalThis as { gc?: () => void }).gc?.();
  const baselineRss = process.memoryUsage().rss;
  const acc = createFedAvgAccumulator(params);
  const buffer = new Float32Array(params);
  const perDelta: number[] = [];
  let peakSampled = 0;
  const started = process.hrtime.bigint();
  let timedNs = 0n;
  let cpuMicros = 0;
  for (let k = 0; k < count; k++) {
    fill(buffer, k + 1);
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    acc.add(buffer, 1 + (k % 7) * 100);
    const dt = process.hrtime.bigint() - t0;
    const c = process.cpuUsage(c0);
    cpuMicros += c.user + c.system;
    timedNs += dt;
    perDelta.push(Number(dt) / 1e9);
    peakSampled = Math.max(peakSampled, process.memoryUsage().rss);
  }
  const tf = process.hrtime.bigint();
  const mean = acc.finish();
  timedNs += process.hrtime.bigint() - tf;
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  if (!Number.isFinite(mean[params >> 1])) throw new Error("FedAvg produced a non-finite value");
  const peakRss = Math.max(peakSampled, process.resourceUsage().maxRSS * 1024);
  const medianS = median(perDelta);
  const fedavg = {
    medianGBps: modelBytes / medianS / 1e9,
    overallGBps: (count * modelBytes) / (Number(timedNs) / 1e9) / 1e9,
    // Bytes per CPU-second spent in add(): what one core does, even when a shared box makes the
    // process wait in the run queue (wall time then overstates the cost).
    cpuGBps: (count * modelBytes) / (cpuMicros / 1e6) / 1e9,
    peakRssOverModel: peakRss / modelBytes,
    peakAboveBaselineOverModel: (peakRss - baselineRss) / modelBytes,
  };
  console.log(`Streaming FedAvg: ${count} deltas × ${params.toLocaleString()} params (${(modelBytes / MB).toFixed(0)} MiB each), one core`);
  console.log(`  add() per delta, median      ${(medianS * 1000).toFixed(1)} ms  → ${fedavg.medianGBps.toFixed(2)} GB/s of delta bytes`);
  console.log(`  all adds + finish            ${(Number(timedNs) / 1e6).toFixed(0)} ms  → ${fedavg.overallGBps.toFixed(2)} GB/s (wall incl. untimed generation ${wallS.toFixed(1)} s)`);
  console.log(`  per CPU-second in add()      ${fedavg.cpuGBps.toFixed(2)} GB/s (load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores)`);
  console.log(`  baseline RSS                 ${(baselineRss / MB).toFixed(0)} MiB`);
  console.log(`  peak RSS                     ${(peakRss / MB).toFixed(0)} MiB = ${fedavg.peakRssOverModel.toFixed(2)}× model (${fedavg.peakAboveBaselineOverModel.toFixed(2)}× above baseline)`);

  // ---- Part 2: every strategy on smaller sets held in memory (few large deltas, many small ones) ----
  const configs: [number, number][] = [
    [robustCount, robustParams],
    [argValue(args, "many-count", 100), argValue(args, "many-params", 100_000)],
  ];
  const sets = configs.map(([n, d]) => benchStrategies(n, d));
  console.log(
    JSON.stringify({
      bench: "aggregate",
      fedavg: {
        count,
        params,
        modelMiB: Math.round(modelBytes / MB),
        medianGBps: round(fedavg.medianGBps),
        overallGBps: round(fedavg.overallGBps),
        cpuGBps: round(fedavg.cpuGBps),
        loadAverage: round(os.loadavg()[0]),
        peakRssOverModel: round(fedavg.peakRssOverModel),
        peakAboveBaselineOverModel: round(fedavg.peakAboveBaselineOverModel),
        targetGBps: 1,
        targetRssOverModel: 3,
      },
      strategies: sets.map((set) => ({
        count: set.count,
        params: set.params,
        ...Object.fromEntries(set.rows.map((r) => [r.name, { ms: round(r.ms), GBps: round(r.gbps) }])),
      })),
    }),
  );
}

const STRATEGIES: [string, Record<string, string>][] = [
  ["fedavg", {}],
  ["fedavgm", {}],
  ["fedadam", {}],
  ["median", {}],
  ["trimmed-mean", { beta: "0.1" }],
  ["krum", {}],
  ["multi-krum", {}],
];

/** Times every strategy's `aggregate` on `count` in-memory deltas of `params` values; prints a table. */
function benchStrategies(count: number, params: number): { count: number; params: number; rows: { name: string; ms: number; gbps: number }[] } {
  const updates: ClientUpdate[] = [];
  for (let k = 0; k < count; k++) {
    const delta = new Float32Array(params);
    fill(delta, 1000 + k);
    updates.push({ id: `c${k}`, weight: 1 + (k % 5) * 10, delta });
  }
  const setBytes = count * params * 4;
  const rows: { name: string; ms: number; gbps: number }[] = [];
  for (const [name, p] of STRATEGIES) {
    const strategy = createStrategy(name, p);
    const times: number[] = [];
    // Median of 3 runs, or a single run when one already takes seconds (a 2-core CI box).
    for (let r = 0; r < 3 && (r === 0 || times[0] < 2); r++) {
      const t0 = process.hrtime.bigint();
      strategy.aggregate(updates);
      times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    const s = median(times);
    rows.push({ name, ms: s * 1000, gbps: setBytes / s / 1e9 });
  }
  console.log();
  console.log(`All strategies: ${count} deltas × ${params.toLocaleString()} params in memory (${(setBytes / MB).toFixed(0)} MiB), median of up to 3 runs`);
  console.log(`  ${"strategy".padEnd(14)} ${"ms".padStart(9)} ${"GB/s".padStart(7)}`);
  for (const row of rows) {
    console.log(`  ${row.name.padEnd(14)} ${row.ms.toFixed(1).padStart(9)} ${row.gbps.toFixed(3).padStart(7)}`);
  }
  return { count, params, rows };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
