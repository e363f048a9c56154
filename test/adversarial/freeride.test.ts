/**
 * Issue 13, "a contribution is worth what it adds beyond public information": in round 2 of a real
 * embedded orchestrator (FedAvg, fixture MLP, trained honest deltas), a free-rider sends the public
 * previous global update, a zero sender zeros, a noise sender Gaussian noise as large as an honest
 * delta, and five Sybil wallets one attacker's trained delta. Free-rider, zero and noise earn < 1%
 * of the round; the copies together earn at most one honest share; flags and slashable evidence
 * are stored; honest non-IID contributors (two classes each) each earn in every round, within a
 * factor of 3 of one another (before the per-class validation relevance, round 2 paid them 1/0/0:
 * two were flagged "noise" for residuals that disagree with the others').
 */
import { afterEach, describe, expect, it } from "vitest";
import { honest, map, network, resetPrevious, runRound, shareOf, type Network, type Participant, type Tensors } from "./helpers.js";
import { account } from "../orchestrator/helpers.js";
import { getRoundEcon, listSubmissionFlags } from "../../src/db/econ.js";

function gaussianLike(t: Tensors, seed: number): Tensors {
  let normSq = 0;
  let n = 0;
  for (const x of t) for (const v of x.data) { normSq += v * v; n++; }
  let a = seed;
  const rand = () => { a = (a * 1103515245 + 12345) % 2147483648; return (a + 0.5) / 2147483648; };
  const s = Math.sqrt(normSq / n);
  return map(t, () => s * Math.sqrt(-2 * Math.log(rand())) * Math.cos(2 * Math.PI * rand()));
}

describe("free-ride, zero, noise and Sybil copies", () => {
  let net: Network | undefined;
  afterEach(async () => {
    await net?.close();
    resetPrevious();
  });

  it("pay nothing (or one share between the copies) and leave evidence; non-IID honest contributors earn", async () => {
    net = await network({ strategy: "fedavg", minContributors: 2 });
    // Non-IID honest contributors: each sees two of the three classes.
    const h = [honest(11, 240, { labels: [0, 1] }), honest(12, 240, { labels: [1, 2] }), honest(13, 240, { labels: [0, 2] })];
    const first = await runRound(net, h);
    expect(first.state).toBe("published");
    const honestFirst = h.map((p) => shareOf(first, [p.account]));

    const freeRider: Participant = { account: account(), async delta(_r, ctx) { return { tensors: map(ctx.global, (v, i, j) => v - ctx.previousGlobal![i].data[j]), sampleCount: 200 }; } };
    const zero: Participant = { account: account(), async delta(_r, ctx) { return { tensors: map(ctx.global, () => 0), sampleCount: 200 }; } };
    const noise: Participant = { account: account(), async delta(_r, ctx) { return { tensors: gaussianLike(ctx.honest.values().next().value!, 7), sampleCount: 200 }; } };
    const sybilSource = honest(21, 240);
    const sybils: Participant[] = [];
    for (let i = 0; i < 5; i++) {
      sybils.push({
        account: account(),
        async delta(round, ctx) {
          const key = "sybil-source";
          if (!ctx.honest.has(key)) ctx.honest.set(key, (await sybilSource.delta(round, ctx)).tensors);
          return { tensors: ctx.honest.get(key)!, sampleCount: 240 };
        },
      });
    }
    const second = await runRound(net, [...h, freeRider, zero, noise, ...sybils]);
    const third = await runRound(net, [...h, freeRider, zero, noise, ...sybils]);

    expect(second.state).toBe("published");
    expect(third.state).toBe("published");
    const honestShares = h.map((p) => shareOf(second, [p.account]));
    const honestThird = h.map((p) => shareOf(third, [p.account]));
    const flagsById = listSubmissionFlags(net.orch.db, 1, second.round);
    console.log(JSON.stringify({
      honestNonIidRound1: honestFirst, honestNonIidRound2: honestShares, honestNonIidRound3: honestThird, sybilsTogether: shareOf(second, sybils.map((s) => s.account)),
      freeRide: shareOf(second, [freeRider.account]), zero: shareOf(second, [zero.account]), noise: shareOf(second, [noise.account]),
      flags: [...flagsById.values()],
    }));
    for (const cheat of [freeRider, zero, noise]) expect(shareOf(second, [cheat.account])).toBeLessThan(0.01);
    expect(shareOf(second, sybils.map((s) => s.account))).toBeLessThanOrEqual(Math.max(...honestShares) + 1e-9);
    // Non-IID honest contributors are not starved, as a group or one by one: each earns in every
    // round, and the best-paid earns at most 3 times the least-paid.
    expect(honestShares.reduce((a, b) => a + b, 0)).toBeGreaterThan(0.5);
    for (const shares of [honestFirst, honestShares, honestThird]) {
      for (const share of shares) expect(share).toBeGreaterThan(0);
      expect(Math.max(...shares)).toBeLessThanOrEqual(3 * Math.min(...shares));
    }
    for (const cheat of [freeRider, zero, noise]) expect(shareOf(third, [cheat.account])).toBeLessThan(0.01);
    expect(shareOf(third, sybils.map((s) => s.account))).toBeLessThanOrEqual(Math.max(...honestThird) + 1e-9);

    // Flags per submission and the round's evidence are stored; exact cheats are slashable.
    const flags = [...listSubmissionFlags(net.orch.db, 1, second.round).values()].map((f) => f.flag);
    expect(flags.filter((f) => f === "duplicate")).toHaveLength(5);
    expect(flags).toContain("zero");
    expect(flags).toContain("free-ride");
    const econ = getRoundEcon(net.orch.db, 1, second.round);
    expect(econ.slashes).toContain(zero.account.address.toLowerCase());
    for (const s of sybils) expect(econ.slashes).toContain(s.account.address.toLowerCase());
    for (const p of h) expect(econ.slashes).not.toContain(p.account.address.toLowerCase());
    expect(econ.slashes).not.toContain(noise.account.address.toLowerCase());
  }, 240_000);
});
