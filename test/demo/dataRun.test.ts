/**
 * `dat demo --data …` as a child process on files the loaders read: a CSV with --label-column and
 * --test-split, an IDX pair and a PNG folder, each trained for real across two contributors with
 * rounds published and rewards paid; and a bad --data (missing path, wrong label column) refused
 * with a clear error and its exit code before any chain starts.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DemoResult } from "../../src/demo/types.js";
import { writeBandIdx, writeBandPngFolder, writeClusterCsv } from "./dataFiles.js";

const ROOT = path.resolve(__dirname, "../..");
const BIN = path.join(ROOT, "bin", "dat.js");
// Small data: more steps per epoch (small batches) and a larger step size than the digits default.
const FAST = ["--contributors", "2", "--rounds", "2", "--epochs", "3", "--batch-size", "8", "--lr", "0.2"];

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dat-demo-run-"));
  writeClusterCsv(path.join(dir, "clusters.csv"), 150);
  writeBandIdx(path.join(dir, "idx"), 120);
  writeBandPngFolder(path.join(dir, "png"), 30);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function runDat(args: string[]) {
  return spawnSync(process.execPath, [BIN, "--home", path.join(dir, "home"), ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 240_000,
    env: { ...process.env, NO_COLOR: "1" },
    maxBuffer: 64 * 1024 * 1024,
  });
}

function expectTrainedAndPaid(result: DemoResult): void {
  expect(result.rounds).toHaveLength(2);
  for (const round of result.rounds) {
    expect(round.state).toBe("published");
    expect(round.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(round.scores.reduce((a, s) => a + BigInt(s.reward), 0n)).toBe(BigInt(result.settings.rewardPerRound));
  }
  expect(result.rounds[1].accuracy!).toBeGreaterThan(result.baseline!.accuracy!);
  expect(result.inference.map((o) => o.answered)).toEqual([true, false]);
}

describe("dat demo --data (child process)", () => {
  it("trains on a CSV picked by --label-column with a --test-split held out", () => {
    const run = runDat(["--json", "demo", "--data", path.join(dir, "clusters.csv"), "--label-column", "kind", "--test-split", "0.2", ...FAST]);

    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as DemoResult;
    expect(result.validationSamples).toBe(30);
    expect(result.contributors.map((c) => c.samples)).toEqual([60, 60]);
    expect(result.settings.model).toBe("mlp (4→32→3)");
    expectTrainedAndPaid(result);
  });

  it.each([
    ["an IDX pair", "idx", 24],
    ["a PNG folder, one sub-folder per class", "png", 18],
  ])("trains on %s (8×8 images: a built-in MLP fitted to them)", (_what, folder, held) => {
    const run = runDat(["--json", "demo", "--data", path.join(dir, folder as string), ...FAST]);

    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as DemoResult;
    expect(result.validationSamples).toBe(held);
    expect(result.settings.model).toBe("mlp (64→32→3)");
    expectTrainedAndPaid(result);
  });

  it("refuses a missing --data path with not-found (exit 4) before starting a chain", () => {
    const missing = path.join(dir, "nope.csv");
    const run = runDat(["--json", "demo", "--data", missing]);

    expect(run.status).toBe(4);
    const { error } = JSON.parse(run.stdout) as { error: { code: string; message: string } };
    expect(error.code).toBe("DATA_NOT_FOUND");
    expect(error.message).toContain(missing);
    expect(run.stderr).not.toContain("demo.chain");
  });

  it("refuses a wrong --label-column (exit 3), naming the columns there are", () => {
    const run = runDat(["demo", "--data", path.join(dir, "clusters.csv"), "--label-column", "species"]);

    expect(run.status).toBe(3);
    expect(run.stderr).toContain('no label column "species"');
    expect(run.stderr).toContain("a, b, kind, c, d");
    expect(run.stderr).toContain("--label-column");
    expect(run.stderr).not.toContain("Hardhat Network");
  });
});
