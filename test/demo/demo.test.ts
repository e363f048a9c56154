/**
 * `dat demo --json --rounds 2` as a child process, as a newcomer runs it: one JSON document on
 * stdout with published rounds, rewards paid and claimed on-chain, an answered and a denied
 * inference; JSON event lines on stderr.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { DemoResult } from "../../src/demo/types.js";
import { runToEnd, type ProcessRun } from "../cli/helpers.js";

const ROOT = path.resolve(__dirname, "../..");
const BIN = path.join(ROOT, "bin", "dat.js");

/** `dat …args` to its end, asynchronously (three demos in a row would stall the test worker past vitest's RPC timeout). */
function runDat(args: string[]): Promise<ProcessRun> {
  return runToEnd(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: "1" }, timeoutMs: 240_000 });
}

describe("dat demo (child process)", () => {
  it("runs two rounds with rewards, claims and gated inference and prints one JSON document", async () => {
    // Execute
    const run = await runDat(["--json", "demo", "--rounds", "2", "--samples", "1200", "--epochs", "1"]);

    // Assert
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as DemoResult;
    expect(result.rounds).toHaveLength(2);
    for (const round of result.rounds) {
      expect(round.state).toBe("published");
      expect(round.submissions).toHaveLength(3);
      expect(round.txHash).toMatch(/^0x[0-9a-f]{64}$/);
      expect(round.accuracy).toBeGreaterThan(0);
      const paid = round.scores.reduce((acc, s) => acc + BigInt(s.reward), 0n);
      expect(paid).toBe(BigInt(result.settings.rewardPerRound));
    }
    // Training helped: the second round's model beats the untrained one.
    expect(result.rounds[1].accuracy!).toBeGreaterThan(result.baseline!.accuracy!);
    // Each contributor claimed what it earned, and its balance shows it.
    expect(result.claims).toHaveLength(3);
    for (const claim of result.claims) {
      const earned = result.rounds.flatMap((r) => r.scores).filter((s) => s.address === claim.address).reduce((a, s) => a + BigInt(s.reward), 0n);
      expect(BigInt(claim.claimed)).toBe(earned);
      expect(BigInt(claim.balance)).toBe(earned);
      expect(claim.txHashes.length).toBeGreaterThan(0);
    }
    const holder = result.inference.find((o) => o.who === "holder")!;
    const outsider = result.inference.find((o) => o.who === "non-holder")!;
    expect(holder.answered).toBe(true);
    expect(holder.predictions!.length).toBeGreaterThan(0);
    expect(outsider.answered).toBe(false);
    expect(outsider.denial!.held).toBe("0");
    expect(BigInt(outsider.denial!.required!)).toBeGreaterThan(0n);
    // Live progress went to stderr as JSON lines, never into the stdout document.
    const events = run.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { event: string });
    expect(events.filter((e) => e.event === "demo.round")).toHaveLength(2);
  });

  it("clips and noises deltas, sends top-k updates, and scores a sign-flipping attacker below the honest ones", async () => {
    // Execute: the shared submission path with DP (src/core/privacy) and top-k error feedback. The
    // noise is per contributor, σ·C per coordinate: on the demo's ≈ 50k-parameter model its norm is
    // σ·C·√d, so σ = 0.05 would be ≈ 11× the clipped update and every score would measure noise
    // (secure noise, different on each run). σ = 0.001 keeps the noise path but leaves the signal.
    const run = await runDat([
      "--json", "demo", "--rounds", "2", "--samples", "900", "--epochs", "1",
      "--dp-clip", "1", "--dp-noise", "0.001", "--encoding", "topk:0.1", "--attackers", "1", "--strategy", "median",
    ]);

    // Assert
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as DemoResult;
    expect(result.settings).toMatchObject({ dpClip: 1, dpNoise: 0.001, encoding: "topk:0.1", strategy: "median", attackers: 1 });
    const attacker = result.contributors.find((c) => c.attack)!;
    expect(attacker.attack).toEqual({ kind: "sign-flip", factor: 1 });
    // ε grows with every round a contributor releases a noised delta (and is huge at σ = 0.001).
    expect(result.rounds.map((r) => r.privacy?.delta)).toEqual([1e-5, 1e-5]);
    expect(result.rounds[0].privacy!.epsilon!).toBeGreaterThan(0);
    expect(result.rounds[1].privacy!.epsilon!).toBeGreaterThan(result.rounds[0].privacy!.epsilon!);
    for (const round of result.rounds) {
      expect(round.state).toBe("published");
      const mine = round.scores.find((s) => s.address === attacker.address)!;
      for (const honest of round.scores.filter((s) => s.address !== attacker.address)) {
        expect(mine.score).toBeLessThan(honest.score);
        expect(BigInt(mine.reward)).toBeLessThan(BigInt(honest.reward));
      }
    }
  });

  it("with --strategy robust and 2 of 10 attackers sending zeros, publishes every round and pays the attackers nothing", async () => {
    // Execute
    const run = await runDat(["--json", "demo", "--rounds", "2", "--samples", "900", "--epochs", "1", "--contributors", "10", "--attackers", "2", "--attack", "zero", "--strategy", "robust"]);

    // Assert: robust is Multi-Krum with fraction 0.3 and server momentum 0.7. An attacker slashed for its round-1 zero delta
    // may be refused in round 2 (STAKE_TOO_LOW, recorded, not fatal: the rounds close on the honest
    // 8); whether the slash lands before round 2's stake check depends on the stake block (issue 13).
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as DemoResult;
    expect(result.settings).toMatchObject({ strategy: "multi-krum", strategyParams: { fraction: "0.3", momentum: "0.7" }, attackers: 2 });
    expect(result.rounds.map((r) => r.state)).toEqual(["published", "published"]);
    const attackers = result.contributors.filter((c) => c.attack).map((c) => c.address);
    expect(attackers).toHaveLength(2);
    for (const address of attackers) {
      const second = result.rounds[1].submissions.find((s) => s.address === address)!;
      if (second.refused !== undefined) expect(second).toMatchObject({ refused: "STAKE_TOO_LOW", samples: 0 });
      for (const round of result.rounds) expect(BigInt(round.scores.find((s) => s.address === address)?.reward ?? "0")).toBe(0n);
    }
    expect(result.rounds[1].submissions.filter((s) => !s.poisoned)).toHaveLength(8);
  });

  it("refuses malformed options with a usage error before starting anything", async () => {
    const run = await runDat(["--json", "demo", "--partition", "dirichlet:-1"]);
    expect(run.status).toBe(2);
    const doc = JSON.parse(run.stdout) as { error: { code: string } };
    expect(doc.error.code).toBe("PARTITION_SCHEME");
  });
});
