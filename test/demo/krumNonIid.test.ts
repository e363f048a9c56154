/**
 * Issue 14: Krum with 2 of 10 sign-flip attackers on non-IID tabular data (a UCI-digits-like CSV,
 * Dirichlet α = 0.5) keeps learning: a new global model every round (no frozen model) and rewards
 * paid every round. Before, Krum picked a collapsed model in round 1 and every later delta was 0.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { DemoResult } from "../../src/demo/types.js";
import { writeDigitsCsv } from "../cli/commands/model/digits.js";

const ROOT = path.resolve(__dirname, "../..");
const BIN = path.join(ROOT, "bin", "dat.js");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dat-krum-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("dat demo --strategy krum with sign-flip attackers on non-IID tabular data", () => {
  it("publishes a new model and pays rewards every round", () => {
    const csv = path.join(dir, "digits.csv");
    writeDigitsCsv(csv, 1000, 11);
    const run = spawnSync(process.execPath, [
      BIN, "--home", path.join(dir, "home"), "--json", "demo", "--data", csv, "--label-column", "label",
      "--strategy", "krum", "--attackers", "2", "--attack", "sign-flip", "--contributors", "10", "--partition", "dirichlet:0.5",
      "--rounds", "3", "--epochs", "1",
    ], { cwd: ROOT, encoding: "utf8", timeout: 400_000, env: { ...process.env, NO_COLOR: "1" }, maxBuffer: 64 * 1024 * 1024 });
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout.trim().split("\n").at(-1)!) as DemoResult;
    expect(result.settings.data).toContain("digits.csv");
    expect(result.rounds).toHaveLength(3);
    const cids = result.rounds.map((r) => r.modelCid);
    expect(new Set(cids).size).toBe(3);
    for (const round of result.rounds) {
      expect(round.state).toBe("published");
      const paid = round.scores.reduce((a, s) => a + BigInt(s.reward), 0n);
      expect(paid).toBe(BigInt(result.settings.rewardPerRound));
      expect(round.scores.some((s) => s.score > 0)).toBe(true);
    }
    expect(result.rounds[2].accuracy!).toBeGreaterThan(result.baseline!.accuracy!);
  }, 420_000);
});
