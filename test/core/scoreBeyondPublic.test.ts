import { describe, expect, it } from "vitest";
import { MalformedInputError } from "../../src/core/errors.js";
import { gramMatrix, scoreBeyondPublic } from "../../src/core/scoreBeyondPublic.js";
import { scoreContributions } from "../../src/core/scores.js";
import { seededRandom } from "../../src/core/privacy/index.js";

const D = 2000;

function gaussian(next: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

function randn(length: number, next: () => number, scale = 1): Float32Array {
  return Float32Array.from({ length }, () => scale * gaussian(next));
}

function norm(x: Float32Array): number {
  return Math.hypot(...x);
}

/**
 * Honest non-IID clients: this round's common direction c plus a client-specific direction of the
 * same size (pairwise cosine ≈ 0.5, different but positively correlated); the public previous
 * update u shares about half of c's direction (consecutive rounds' updates are correlated).
 */
function honestRound(seed: number, clients = 8) {
  const next = seededRandom(seed);
  const common = randn(D, next);
  const previous = common.map((c) => 0.6 * c).map((x) => x + 0.8 * gaussian(next));
  const honest = Array.from({ length: clients }, (_, h) => {
    const own = randn(D, next);
    return { id: `honest-${h}`, delta: common.map((c, i) => c + own[i]) };
  });
  return { honest, previous, next };
}

function mean(vectors: Float32Array[]): Float32Array {
  const out = new Float32Array(vectors[0].length);
  for (const v of vectors) for (let i = 0; i < v.length; i++) out[i] += v[i] / vectors.length;
  return out;
}

describe("scoreBeyondPublic", () => {
  it("pays nothing for free-riding, zero or noise, and one share to a group of copies", () => {
    // Prepare
    const { honest, previous, next } = honestRound(1);
    const honestNorm = norm(honest[0].delta);
    const attacker = honest[0].delta.map((x, i) => x * 0.9 + 0.3 * honest[1].delta[i]); // its own trained delta
    const copies = Array.from({ length: 5 }, (_, k) => ({
      id: `copy-${k}`,
      delta: attacker.map((x) => x + 1e-3 * gaussian(next)),
    }));
    const attacks = [
      { id: "free-ride", delta: Float32Array.from(previous) },
      { id: "free-ride-half", delta: previous.map((x) => 0.5 * x) },
      { id: "zero", delta: new Float32Array(D) },
      { id: "noise", delta: randn(D, next, honestNorm / Math.sqrt(D)) },
      ...copies,
    ];
    const updates = [...honest.slice(1), ...attacks];

    // Execute
    const { scores, evidence } = scoreBeyondPublic(updates, { previousUpdate: previous });

    // Assert
    const byId = new Map(scores.map((s) => [s.id, s]));
    const total = scores.reduce((s, x) => s + x.score, 0);
    for (const id of ["free-ride", "free-ride-half", "zero", "noise"]) expect(byId.get(id)!.score / total).toBeLessThan(0.01);
    expect(byId.get("free-ride")!.flag).toBe("free-ride");
    expect(byId.get("free-ride-half")!.flag).toBe("free-ride");
    expect(byId.get("zero")!.flag).toBe("zero");
    expect(byId.get("noise")!.flag).toBe("noise");
    const honestScores = honest.slice(1).map((h) => byId.get(h.id)!.score);
    const groupTotal = copies.reduce((s, c) => s + byId.get(c.id)!.score, 0);
    const sorted = [...honestScores].sort((a, b) => a - b);
    expect(groupTotal).toBeLessThanOrEqual(sorted[3] + 1e-12); // the median of the 7 honest shares
    for (const c of copies) expect(byId.get(c.id)!.flag).toBe("duplicate");
    for (const h of honest.slice(1)) expect(byId.get(h.id)!.flag).toBeNull();
    expect(Math.min(...honestScores)).toBeGreaterThan(0.3);
    expect(evidence).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: "duplicate", ids: copies.map((c) => c.id), slashable: true }),
        expect.objectContaining({ kind: "free-ride", ids: ["free-ride"], slashable: true }),
        expect.objectContaining({ kind: "zero", ids: ["zero"], slashable: true }),
        expect.objectContaining({ kind: "noise", ids: ["noise"], slashable: false }),
      ]),
    );
    // Honest contributors never appear in the evidence (nothing to slash them for).
    for (const e of evidence) for (const h of honest) expect(e.ids).not.toContain(h.id);
  });

  it("does not starve honest non-IID contributors (and scores them no lower than the old rule, on average)", () => {
    for (const seed of [2, 3, 4]) {
      const { honest, previous } = honestRound(seed);
      const after = scoreBeyondPublic(honest, { previousUpdate: previous }).scores;
      const before = scoreContributions(honest, mean(honest.map((h) => h.delta)));
      for (const s of after) {
        expect(s.flag).toBeNull();
        expect(s.score).toBeGreaterThan(0.3);
      }
      const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      // Old rule: agreement with an aggregate that contains the contributor itself (inflated by self-overlap).
      expect(avg(after.map((s) => s.score))).toBeGreaterThan(0.6 * avg(before.map((s) => s.score)));
    }
  });

  it("pays skewed non-IID contributors whose residuals disagree, on the per-class validation gradients; noise, zero, free-ride still earn 0", () => {
    // Three classes with directions c_k; client k holds class k only: it pushes c_k up and the other
    // classes down, so the clients' residuals point against each other (pairwise cosine ≈ −0.46).
    const next = seededRandom(11);
    const c = [0, 1, 2].map(() => randn(D, next));
    const previous = randn(D, next);
    const client = (k: number) => ({
      id: `client-${k}`,
      delta: Float32Array.from({ length: D }, (_, i) => c[k][i] - 0.7 * c[(k + 1) % 3][i] - 0.7 * c[(k + 2) % 3][i] + 0.3 * previous[i] + 0.2 * gaussian(next)),
    });
    const clients = [0, 1, 2].map(client);
    // Validation gradients: overall (all classes) and per class (−g_k ≈ c_k, measured with noise).
    const perClass = c.map((ck) => Float32Array.from(ck, (x) => -x + 0.3 * gaussian(next)));
    const overall = Float32Array.from({ length: D }, (_, i) => (perClass[0][i] + perClass[1][i] + perClass[2][i]) / 3);
    const honestNorm = norm(clients[0].delta);
    const attacks = [
      { id: "noise", delta: randn(D, next, honestNorm / Math.sqrt(D)) },
      { id: "zero", delta: new Float32Array(D) },
      { id: "free-ride", delta: previous.map((x) => 2 * x) },
      { id: "copy-a", delta: Float32Array.from(clients[0].delta) },
    ];
    const updates = [...clients, ...attacks];

    const before = scoreBeyondPublic(updates, { previousUpdate: previous }).scores;
    const after = scoreBeyondPublic(updates, { previousUpdate: previous, validationGradients: [overall, ...perClass] });

    // Before: peers alone starve every honest client (they point against each other).
    for (const k of [0, 1, 2]) expect(before[k].score).toBe(0);
    const byId = new Map(after.scores.map((x) => [x.id, x]));
    const honest = ["client-1", "client-2"].map((id) => byId.get(id)!.score);
    for (const score of honest) expect(score).toBeGreaterThan(0.3);
    for (const id of ["client-1", "client-2"]) expect(byId.get(id)).toMatchObject({ flag: null, relevance: expect.any(Number) });
    expect(Math.max(...honest)).toBeLessThanOrEqual(3 * Math.min(...honest));
    expect(byId.get("noise")).toMatchObject({ flag: "noise", score: 0 });
    expect(Math.abs(byId.get("noise")!.relevance!)).toBeLessThan(4 / Math.sqrt(D));
    expect(byId.get("zero")).toMatchObject({ flag: "zero", score: 0 });
    expect(byId.get("free-ride")).toMatchObject({ flag: "free-ride", score: 0 });
    // client-0 and its copy share one share at most.
    expect(byId.get("client-0")!.flag).toBe("duplicate");
    expect(byId.get("client-0")!.score + byId.get("copy-a")!.score).toBeLessThanOrEqual(Math.max(...honest) + 1e-12);
    expect(after.evidence).toEqual(expect.arrayContaining([expect.objectContaining({ kind: "duplicate", ids: ["client-0", "copy-a"], slashable: true })]));
  });

  it("slashes exact copies only: honest deltas that merely agree past the duplicate cosine share a share, unslashed", () => {
    // Prepare: two honest deltas 0.995 apart in cosine (easy IID data, same start), and an
    // attacker's training run sent from two wallets (one copy scaled 3×).
    const random = seededRandom(21);
    const d = 2000;
    const common = Float32Array.from({ length: d }, () => random() - 0.5);
    const near = (eps: number) => Float32Array.from(common, (v) => v + eps * (random() - 0.5));
    const h1 = near(0.05);
    const h2 = near(0.05);
    const run = Float32Array.from({ length: d }, () => random() - 0.5);
    const copy = Float32Array.from(run, (v) => 3 * v);

    // Execute
    const honestPair = scoreBeyondPublic([{ id: "h1", delta: h1 }, { id: "h2", delta: h2 }, { id: "x", delta: Float32Array.from({ length: d }, () => random() - 0.5) }]);
    const sybils = scoreBeyondPublic([{ id: "s1", delta: run }, { id: "s2", delta: copy }, { id: "h", delta: near(0.5) }]);

    // Assert
    const pair = honestPair.evidence.find((e) => e.kind === "duplicate")!;
    expect(pair.ids.sort()).toEqual(["h1", "h2"]);
    expect(pair.measure).toBeGreaterThan(0.99);
    expect(pair.measure).toBeLessThan(1 - 1e-6);
    expect(pair.slashable).toBe(false);
    const copies = sybils.evidence.find((e) => e.kind === "duplicate")!;
    expect(copies.ids.sort()).toEqual(["s1", "s2"]);
    expect(copies.slashable).toBe(true);
  });

  it("gives an IID sign-flipped delta nothing even with validation gradients", () => {
    const { honest, previous, next } = honestRound(7);
    const common = mean(honest.map((h) => h.delta));
    const gradient = Float32Array.from(common, (x) => -x + 0.5 * gaussian(next));
    const flipped = { id: "flipped", delta: honest[0].delta.map((x) => -x) };
    const { scores } = scoreBeyondPublic([...honest.slice(1), flipped], { previousUpdate: previous, validationGradients: [gradient] });
    expect(scores.find((s) => s.id === "flipped")!.score).toBe(0);
    for (const s of scores.filter((x) => x.id !== "flipped")) expect(s.score).toBeGreaterThan(0.3);
  });

  it("gives a scaled-up delta a score divided by its scale and a sign-flipped one nothing", () => {
    const { honest, previous } = honestRound(5);
    const scaled = { id: "scaled", delta: honest[0].delta.map((x) => 10 * x) };
    const flipped = { id: "flipped", delta: honest[1].delta.map((x) => -x) };
    const { scores } = scoreBeyondPublic([...honest.slice(2), scaled, flipped], { previousUpdate: previous });
    const byId = new Map(scores.map((s) => [s.id, s]));
    expect(byId.get("flipped")!.score).toBe(0);
    expect(byId.get("scaled")!.score).toBeLessThan(0.15 * byId.get("honest-2")!.score + 0.1);
  });

  it("works without a previous update (first round) and for a single contributor", () => {
    const { honest } = honestRound(6, 4);
    const { scores } = scoreBeyondPublic([...honest, { id: "copy", delta: Float32Array.from(honest[0].delta) }]);
    expect(scores.find((s) => s.id === "copy")!.flag).toBe("duplicate");
    expect(scores.find((s) => s.id === "honest-0")!.flag).toBe("duplicate");
    expect(scores.filter((s) => s.flag === null)).toHaveLength(3);
    expect(scoreBeyondPublic([honest[0]]).scores[0].score).toBe(1);
    expect(scoreBeyondPublic([])).toEqual({ scores: [], evidence: [] });
  });

  it("refuses malformed input", () => {
    const ok = { id: "a", delta: new Float32Array([1, 2]) };
    const cases: [unknown[], unknown][] = [
      [[ok, { id: "a", delta: new Float32Array([1, 2]) }], undefined],
      [[ok, { id: "b", delta: new Float32Array([1]) }], undefined],
      [[ok, { id: "b", delta: new Float32Array([1, Number.NaN]) }], undefined],
      [[{ id: "", delta: new Float32Array([1, 2]) }], undefined],
      [[ok], new Float32Array([1])],
      [[ok], new Float32Array([1, Infinity])],
    ];
    for (const [updates, previousUpdate] of cases) {
      expect(() => scoreBeyondPublic(updates as never, { previousUpdate: previousUpdate as Float32Array | undefined })).toThrow(MalformedInputError);
    }
    for (const gradient of [new Float32Array([1]), new Float32Array([1, Number.NaN]), [1, 2]]) {
      expect(() => scoreBeyondPublic([ok], { validationGradients: [gradient as Float32Array] })).toThrow(expect.objectContaining({ code: "SCORES_BAD_INPUT" }));
    }
    expect(() => scoreBeyondPublic([ok], { duplicateCosine: 2 })).toThrow(expect.objectContaining({ code: "SCORES_BAD_OPTION" }));
  });

  it("computes the Gram matrix exactly (hand-computed)", () => {
    const g = gramMatrix([new Float32Array([1, 2]), new Float32Array([3, -1])]);
    expect(Array.from(g.values)).toEqual([5, 1, 1, 10]);
  });
});
