/**
 * Start-up time of the CLI: `node bin/dat.js --help`, run N times as a fresh process.
 *
 *   npm run bench -- help [--runs 20]
 *
 * Target: median under 200 ms. The same run also times `node -e ""` (bare Node start-up), so the
 * figure that dat itself adds is the difference of the two medians, measured on the same machine.
 * Needs dist/ (npm run build).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TARGET_MS = 200;

function runsArg(args: string[]): number {
  const i = args.indexOf("--runs");
  if (i < 0) return 20;
  const n = Number(args[i + 1]);
  if (!Number.isInteger(n) || n < 1) throw new Error("--runs needs a positive integer");
  return n;
}

function time(argv: string[]): number {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, argv, { cwd: root, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${argv.join(" ")} exited ${result.status}: ${result.stderr}`);
  return ms;
}

function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export default async function run(args: string[]): Promise<void> {
  if (!fs.existsSync(path.join(root, "dist", "cli", "main.js"))) throw new Error("dist/ is missing: run npm run build first");
  const runs = runsArg(args);
  const bin = path.join(root, "bin", "dat.js");
  // One warm-up each so the file cache is hot for both.
  time([bin, "--help"]);
  time(["-e", ""]);
  const dat: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < runs; i++) {
    // Interleave so that machine noise hits both series alike.
    dat.push(time([bin, "--help"]));
    bare.push(time(["-e", ""]));
  }
  dat.sort((a, b) => a - b);
  bare.sort((a, b) => a - b);
  const rows = [
    ["dat --help", dat],
    ["node -e ''", bare],
  ] as const;
  console.log(["command".padEnd(12), "runs", "min ms", "median ms", "p90 ms", "max ms"].join("  "));
  for (const [name, xs] of rows) {
    console.log(
      [name.padEnd(12), String(xs.length).padStart(4), xs[0].toFixed(1).padStart(6), quantile(xs, 0.5).toFixed(1).padStart(9), quantile(xs, 0.9).toFixed(1).padStart(6), xs[xs.length - 1].toFixed(1).padStart(6)].join("  "),
    );
  }
  const median = quantile(dat, 0.5);
  const nodeMedian = quantile(bare, 0.5);
  console.log(
    JSON.stringify({
      bench: "help",
      runs,
      medianMs: Number(median.toFixed(1)),
      p90Ms: Number(quantile(dat, 0.9).toFixed(1)),
      nodeStartupMedianMs: Number(nodeMedian.toFixed(1)),
      datOverheadMs: Number((median - nodeMedian).toFixed(1)),
      targetMs: TARGET_MS,
      underTarget: median < TARGET_MS,
    }),
  );
}
