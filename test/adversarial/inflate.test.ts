/**
 * Issue 13, "a claimed count cannot buy weight": one wallet claims 10⁹ samples for a "reset" delta
 * (−global: it would zero the model). Real embedded orchestrator, fixture MLP, FedAvg, trained
 * honest deltas; the same round is run with and without the attacker from the same seeds.
 */
import { afterEach, describe, expect, it } from "vitest";
import { honest, map, network, resetPrevious, runRound, shareOf, type Network, type Participant } from "./helpers.js";
import { account } from "../orchestrator/helpers.js";

describe("inflated sample count (10⁹) with a reset delta", () => {
  const nets: Network[] = [];
  afterEach(async () => {
    for (const n of nets.splice(0)) await n.close();
    resetPrevious();
  });

  it("moves validation accuracy < 3 points and is not paid more than an honest share", async () => {
    const attacker: Participant = {
      account: account(),
      async delta(_round, ctx) {
        return { tensors: map(ctx.global, (v) => -v), sampleCount: 1_000_000_000 };
      },
    };
    const clean = await network({ strategy: "fedavg" });
    nets.push(clean);
    const withoutAttack = await runRound(clean, [honest(1), honest(2), honest(3)]);
    resetPrevious();
    const attacked = await network({ strategy: "fedavg" });
    nets.push(attacked);
    const h = [honest(1), honest(2), honest(3)];
    const withAttack = await runRound(attacked, [...h, attacker]);

    expect(withoutAttack.state).toBe("published");
    expect(withAttack.state).toBe("published");
    const before = withoutAttack.metrics!.accuracy as number;
    const after = withAttack.metrics!.accuracy as number;
    // The cap: min(claim, 2 × median claim) — the attacker weighs at most 2 honest contributors.
    expect(withAttack.metrics!.weightCapped).toBe(1);
    expect(withAttack.metrics!.weightCap).toBeLessThanOrEqual(2 * 200);
    expect(Math.abs(before - after) * 100).toBeLessThan(3);
    // Paid no more than one honest share (1/4 of the round with 4 contributors).
    const attackerShare = shareOf(withAttack, [attacker.account]);
    const honestShares = h.map((p) => shareOf(withAttack, [p.account]));
    expect(attackerShare).toBeLessThanOrEqual(Math.min(...honestShares) + 1e-9);
  }, 120_000);
});
