/** Privacy accounting of DP jobs: per contributor (ledger) and per round (status, job history). */
import fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { computeEpsilon } from "../../src/core/privacy/index.js";
import { createEmbeddedOrchestrator, type EmbeddedOrchestrator } from "../../src/orchestrator/embedded.js";
import { PRIVACY_DELTA, privacySpent } from "../../src/core/privacy/spent.js";
import { readPrivacyLedger, recordPrivacyRound } from "../../src/contributor/privacyLedger.js";
import { privacyLines } from "../../src/cli/privacyLines.js";
import { jobInput, tempHome, tinyModel } from "./helpers.js";

describe("privacySpent", () => {
  it("pins σ = 1, one round, δ = 1e-5 at or above the exact replace-one ε (sensitivity 2C)", () => {
    // Independent number: the analytic Gaussian mechanism (Balle & Wang 2018) with Δ/σ = 2 gives
    // ε = 9.9973 at δ = 1e-5, "10.0" to one decimal (the figure; Opacus-style RDP with
    // sensitivity C, what dat reported before, gave 4.75).
    const report = privacySpent({ clip: 1, noise: 1 }, 1);
    expect(report.epsilon!).toBeGreaterThanOrEqual(9.9972);
    expect(report.epsilon!.toFixed(1)).toBe("10.0");
    expect(report.relation).toBe("replace-one");
    expect(report.epsilon!).toBeGreaterThan(computeEpsilon({ sampleRate: 1, noiseMultiplier: 1, steps: 1 }, PRIVACY_DELTA).epsilon);
  });
  it("composes the Gaussian mechanism over rounds without subsampling", () => {
    const one = privacySpent({ clip: 1, noise: 1.1 }, 1);
    const five = privacySpent({ clip: 1, noise: 1.1 }, 5);
    expect(five.epsilon!).toBeGreaterThan(one.epsilon!);
    expect(privacySpent({ clip: 1, noise: 4 }, 1).epsilon!).toBeLessThan(one.epsilon!);
    expect(one).toMatchObject({ delta: 1e-5, rounds: 1, sampleRate: 1, noiseMultiplier: 1.1, clipNorm: 1 });
  });
  it("reports no guarantee without noise and nothing spent before any round", () => {
    expect(privacySpent({ clip: 1, noise: 0 }, 3).epsilon).toBeNull();
    expect(privacySpent({ clip: 1, noise: 1 }, 0).epsilon).toBe(0);
    expect(privacyLines(privacySpent({ clip: 1, noise: 0 }, 1))[0]).toMatch(/∞/);
    expect(privacyLines(null)).toEqual([]);
  });
});

describe("contributor ledger", () => {
  let home = "";
  afterEach(() => fs.rmSync(home, { recursive: true, force: true }));
  it("counts each round once and survives a corrupt file", () => {
    home = tempHome();
    expect(readPrivacyLedger(home, 1)).toEqual([]);
    expect(recordPrivacyRound(home, 1, 2)).toEqual([2]);
    expect(recordPrivacyRound(home, 1, 1)).toEqual([1, 2]);
    expect(recordPrivacyRound(home, 1, 2)).toEqual([1, 2]);
    expect(readPrivacyLedger(home, 2)).toEqual([]);
    fs.writeFileSync(`${home}/privacy/job-1.json`, "{not json");
    expect(readPrivacyLedger(home, 1)).toEqual([]);
    fs.writeFileSync(`${home}/privacy/job-1.json`, JSON.stringify({ rounds: [1, "x", -2, 3] }));
    expect(readPrivacyLedger(home, 1)).toEqual([1, 3]);
  });
});

describe("per-round privacy in status and job history", () => {
  let home = "";
  let orch: EmbeddedOrchestrator | undefined;
  afterEach(async () => {
    await orch?.close();
    fs.rmSync(home, { recursive: true, force: true });
  });
  it("reports ε for DP jobs and nothing for the others", async () => {
    home = tempHome();
    orch = await createEmbeddedOrchestrator({ home });
    const { bytes } = await tinyModel();
    await orch.createJob(jobInput({ dpClip: 1, dpNoise: 1.1 }), bytes);
    await orch.createJob(jobInput(), bytes);
    await orch.openRound(1);
    await orch.openRound(2);
    const status = await orch.roundStatus(1);
    expect(status.privacy).toEqual(privacySpent({ clip: 1, noise: 1.1 }, 1));
    expect((await orch.getJob(1)).history[0].epsilon).toBeCloseTo(status.privacy!.epsilon!, 10);
    expect((await orch.roundStatus(2)).privacy).toBeNull();
    expect((await orch.getJob(2)).history[0].epsilon).toBeUndefined();
  });
});
