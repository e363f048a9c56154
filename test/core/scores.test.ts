import { describe, expect, it } from "vitest";
import { MalformedInputError, UserError } from "../../src/core/errors.js";
import { aggregateMedian, createStrategy } from "../../src/core/aggregate/index.js";
import { computeContributionScores, deltaAgreement, scoreContributions } from "../../src/core/scores.js";
import { adversarialRound } from "./aggregate/helpers.js";

describe("contribution scores", () => {
  it("follow the documented formula (hand-computed)", () => {
    // Prepare: aggregate along x; a agrees fully, b is at 60° off, c opposes it, d is 4× too long.
    const aggregate = Float32Array.from([1, 0]);
    const updates = [
      { id: "a", delta: Float32Array.from([1, 0]) },
      { id: "b", delta: Float32Array.from([0.5, Math.sqrt(3) / 2]) },
      { id: "c", delta: Float32Array.from([-1, 0]) },
      { id: "d", delta: Float32Array.from([4, 0]) },
    ];

    // Execute
    const scores = scoreContributions(updates, aggregate);

    // Assert: norms 1, 1, 1, 4 → median 1; d's magnitude factor is 1/4.
    expect(scores.map((s) => s.id)).toEqual(["a", "b", "c", "d"]);
    expect(scores[0].score).toBeCloseTo(1, 6);
    expect(scores[1].score).toBeCloseTo(0.5, 6);
    expect(scores[2].score).toBe(0);
    expect(scores[3].magnitude).toBeCloseTo(0.25, 6);
    expect(scores[3].score).toBeCloseTo(0.25, 6);
  });

  it("blend in the validation effect (alone and leave-one-out)", () => {
    const stats = [
      { id: "a", cosine: 1, norm: 1 },
      { id: "b", cosine: 1, norm: 1 },
      { id: "c", cosine: 1, norm: 1 },
    ];
    // alone: reference 2.0; a → 1.0 (gain 1), b → 1.5 (gain 0.5), c → NaN (no gain)
    const alone = computeContributionScores(stats, {
      validation: { kind: "alone", referenceLoss: 2, losses: { a: 1, b: 1.5, c: Number.NaN } },
    });
    expect(alone.map((s) => s.value)).toEqual([1, 0.5, 0]);
    expect(alone.map((s) => s.score)).toEqual([1, 0.75, 0.5]);
    // leave-one-out: full aggregate 1.0; without a 1.4 (gain 0.4), without b 1.2, without c 0.9 (c hurt)
    const loo = computeContributionScores(stats, {
      validationWeight: 1,
      validation: { kind: "leave-one-out", referenceLoss: 1, losses: { a: 1.4, b: 1.2, c: 0.9 } },
    });
    expect(loo[0].score).toBeCloseTo(1, 9);
    expect(loo[1].score).toBeCloseTo(0.5, 9);
    expect(loo[2].score).toBe(0);
  });

  it("give the scaled and sign-flipped attackers low scores, honest ones high, under robust and plain aggregation", () => {
    const { updates } = adversarialRound();
    for (const aggregate of [aggregateMedian(updates), createStrategy("fedavg").aggregate(updates).delta]) {
      const scores = scoreContributions(updates, aggregate);
      const byId = Object.fromEntries(scores.map((s) => [s.id, s.score]));
      expect(byId.scaled).toBeLessThan(0.02);
      expect(byId.flipped).toBe(0);
      for (const s of scores.filter((x) => x.id.startsWith("honest"))) expect(s.score).toBeGreaterThan(0.9);
      for (const s of scores) expect(s.score).toBeGreaterThanOrEqual(0);
    }
  });

  it("reject malformed inputs", () => {
    expect(() => computeContributionScores([{ id: "a", cosine: Number.NaN, norm: 1 }])).toThrow(MalformedInputError);
    expect(() => computeContributionScores([{ id: "a", cosine: 2, norm: 1 }])).toThrow(/cosine/);
    expect(() => computeContributionScores([{ id: "a", cosine: 1, norm: -1 }])).toThrow(/norm/);
    expect(() =>
      computeContributionScores([
        { id: "a", cosine: 1, norm: 1 },
        { id: "a", cosine: 1, norm: 1 },
      ]),
    ).toThrow(/twice/);
    const one = [{ id: "a", cosine: 1, norm: 1 }];
    expect(() => computeContributionScores(one, { validationWeight: 2 })).toThrow(UserError);
    expect(() =>
      computeContributionScores(one, { validation: { kind: "alone", referenceLoss: Number.NaN, losses: { a: 1 } } }),
    ).toThrow(/Reference/);
    expect(() => computeContributionScores(one, { validation: { kind: "alone", referenceLoss: 1, losses: {} } })).toThrow(
      /No validation loss/,
    );
    expect(() => deltaAgreement("a", new Float32Array(2), new Float32Array(3))).toThrow(
      expect.objectContaining({ code: "SCORES_LENGTH_MISMATCH" }),
    );
  });

  it("score a zero delta 0 and an empty list as empty", () => {
    const [zero] = scoreContributions([{ id: "z", delta: new Float32Array(3) }], Float32Array.from([1, 1, 1]));
    expect(zero.score).toBe(0);
    expect(computeContributionScores([])).toEqual([]);
  });
});
