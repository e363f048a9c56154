/**
 * `npm run gpu-kit` builds a kit that runs from a copy outside the checkout, without network where
 * `unshare -n` can cut it, and reports both backends, their ratio and the delta agreement. Built
 * without node and the .deb (this machine has both); skipped, with the reason, where Dawn finds no
 * adapter. Its CPU section (data-parallel wasm on 1 and 2 threads, the worker bundled beside the
 * runner) needs no adapter and always runs.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { probeBackends } from "../../src/train/backends.js";
import { repoRoot, runToEnd, type ProcessRun } from "../cli/helpers.js";

const probe = (await probeBackends({ allowSoftwareGpu: true })).find((r) => r.name === "webgpu")!;
if (!probe.available) console.warn(`[gpu kit test skipped] ${probe.reason}${probe.hint ? ` — ${probe.hint}` : ""}`);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dat-gpu-kit-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

type Run = ProcessRun;
const runAsync = (command: string, args: string[], cwd: string): Promise<Run> => runToEnd(command, args, { cwd });

/** Builds a kit with `flags` into `out`; throws with its stderr when the build fails. */
async function buildKit(flags: string[], out: string): Promise<void> {
  const run = await runAsync(process.execPath, [path.join(repoRoot, "node_modules/tsx/dist/cli.mjs"), "scripts/gpu-kit.ts", ...flags, "--out", out], repoRoot);
  if (run.status !== 0) throw new Error(`gpu-kit build failed (${run.status}): ${run.stderr}`);
}

let copy: Promise<string> | undefined;
/** The kit, built once (without node and the .debs) and copied away from the checkout. */
function kitCopy(): Promise<string> {
  copy ??= (async () => {
    const kit = path.join(dir, "kit");
    await buildKit(["--no-node", "--no-deb"], kit);
    const target = path.join(dir, "copy");
    fs.cpSync(kit, target, { recursive: true });
    return target;
  })();
  return copy;
}

/** Runs the copied kit's run.sh with `args`, without network where `unshare -n` can cut it. */
async function runKit(args: string[]): Promise<Run> {
  const noNetwork = spawnSync("unshare", ["-n", "true"]).status === 0;
  const command = [...(noNetwork ? ["unshare", "-n"] : []), "sh", path.join(await kitCopy(), "run.sh"), ...args];
  return runAsync(command[0], command.slice(1), dir);
}

describe("the offline GPU kit's CPU section", () => {
  it("trains the CIFAR-sized CNN on 1 and 2 wasm threads from a copy (worker bundled), the same weights within 1e-4", async () => {
    // Execute
    const run = await runKit(["--threads-only", "--quick", "--cpu-samples", "32"]);
    // Assert
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout.trim().split("\n").pop()!);
    expect(report).toMatchObject({ kit: "dat-gpu-kit", section: "cpu-threads", samples: 32, batch: 32 });
    if (os.availableParallelism() > 1) expect(report.interleaved).toMatchObject({ threads: 2, pairs: 2, pairRatio: expect.any(Number) });
    const threads = report.results.map((r: { threads: number }) => r.threads);
    expect(threads).toEqual([...new Set([1, Math.min(2, os.availableParallelism()), os.availableParallelism()])]);
    for (const r of report.results) {
      expect(r.samplesPerSec).toBeGreaterThan(0);
      expect(r.cpuSeconds).toBeGreaterThan(0);
      expect(r.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    }
    expect(run.stdout).toMatch(/samples\/CPU s/);
  }, 600_000);
});

describe("the offline GPU kit's dat train comparison (--cli-threads)", () => {
  it("runs the bundled dat CLI as whole processes with --threads 1 and 2, equal deltas, and says where PyTorch is missing", async () => {
    // Execute
    const run = await runKit(["--cli-threads", "--quick", "--torch", "--python", path.join(dir, "no-such-python")]);
    // Assert
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout.trim().split("\n").pop()!);
    expect(report).toMatchObject({ kit: "dat-gpu-kit", section: "cli-threads", threads: 2, samples: 64, batch: 32, runs: 1, torch: { 1: null, 2: null } });
    for (const n of ["1", "2"]) {
      expect(report.wallS[n]).toBeGreaterThan(report.trainS[n]);
      expect(report.cpuS[n]).toBeGreaterThan(0);
    }
    expect(report.pairSpeedups).toEqual([report.pairSpeedup]);
    expect(report.speedup).toBeCloseTo(report.wallS[1] / report.wallS[2], 1);
    expect(report.deltaMaxAbsDiff).toBeLessThanOrEqual(1e-4);
    expect(report.hostArithmeticBefore).toBeGreaterThan(0);
    expect(run.stdout).toMatch(/cannot import torch/);
  }, 600_000);

  it("refuses --threads 1 (nothing to compare) with a clear error", async () => {
    // Execute
    const run = await runKit(["--cli-threads", "--quick", "--threads", "1"]);
    // Assert
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/--threads must be an integer ≥ 2 \(got 1\)/);
  }, 600_000);
});

describe.skipIf(!probe.available)("the offline GPU kit", () => {
  it("builds under 60 MiB and trains the fixture CNN on webgpu and wasm from a copy, deltas within 1e-5", async () => {
    // Execute
    const run = await runKit(["--allow-software-gpu", "--quick", "--fixture-only", "--no-threads"]);
    // Assert
    expect(run.status, run.stderr).toBe(0);
    const line = run.stdout.trim().split("\n").pop()!;
    const report = JSON.parse(line);
    expect(report).toMatchObject({ kit: "dat-gpu-kit", ok: true, adapter: { software: probe.adapter!.software } });
    expect(report.results).toHaveLength(1);
    const [fixture] = report.results;
    expect(fixture.wasmSamplesPerSec).toBeGreaterThan(0);
    expect(fixture.webgpuSamplesPerSec).toBeGreaterThan(0);
    expect(fixture.ratio).toBeCloseTo(fixture.webgpuSamplesPerSec / fixture.wasmSamplesPerSec, 2);
    expect(fixture.maxAbsDiff).toBeLessThanOrEqual(1e-5);
    expect(run.stdout).toMatch(/webgpu samples\/s/);
  }, 600_000);
});

const FASHION = "/usr/share/datasets/fashion-mnist";
const hasFashion = fs.existsSync(path.join(FASHION, "train-images-idx3-ubyte.gz"));
if (!hasFashion) console.warn(`[learning kit test skipped] ${FASHION} is missing (apt-get install dataset-fashion-mnist)`);

describe.skipIf(!hasFashion)("the offline kit's learning benchmark (--with-learning --no-dawn)", () => {
  const kit = path.join(dir, "learning-kit");
  let built: Promise<void> | undefined;
  const build = (): Promise<void> => (built ??= buildKit(["--no-node", "--no-dawn", "--with-learning"], kit));
  const run = (args: string[]): Promise<Run> => runAsync("sh", [path.join(kit, "run.sh"), "--learning", ...args], dir);

  it("carries a Fashion-MNIST subset (IDX header rewritten) and no Dawn, and runs the bench on it", async () => {
    // Prepare
    await build();
    const { gunzipSync } = await import("node:zlib");
    const images = gunzipSync(fs.readFileSync(path.join(kit, "data/fashion-mnist/train-images-idx3-ubyte.gz")));
    const labels = gunzipSync(fs.readFileSync(path.join(kit, "data/fashion-mnist/train-labels-idx1-ubyte.gz")));

    // Execute
    const result = await run(["--rounds", "1", "--clients", "3", "--attackers", "1", "--train-per-client", "20", "--test", "100", "--epochs", "1", "--strategies", "robust", "--attacks", "sign-flip", "--skip-central"]);

    // Assert: 20,000 of the 60,000 training items, each file's count and length agreeing
    expect([images.readUInt32BE(0), images.readUInt32BE(4), images.length]).toEqual([0x803, 20_000, 16 + 20_000 * 784]);
    expect([labels.readUInt32BE(0), labels.readUInt32BE(4), labels.length]).toEqual([0x801, 20_000, 8 + 20_000]);
    expect(fs.existsSync(path.join(kit, "node_modules/webgpu"))).toBe(false);
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout.trim().split("\n").pop()!);
    expect(report).toMatchObject({ bench: "learning", clients: 3, attackers: 1, trainImages: 60, testImages: 100 });
    const rows = report.rows.filter((r: { strategy: string }) => r.strategy === "robust");
    expect(rows.map((r: { attack: string }) => r.attack)).toEqual(["clean", "sign-flip"]);
    for (const r of rows) expect(r.accuracy).toBeGreaterThanOrEqual(0);
  }, 600_000);

  it("refuses an unknown strategy with a clear message and a non-zero exit", async () => {
    await build();
    const result = await run(["--rounds", "1", "--strategies", "nope"]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/Unknown aggregation strategy "nope"/);
  }, 600_000);
});
