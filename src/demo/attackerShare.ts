/** What the attackers of a demo earned, from its JSON alone (contributors' `attack`, rounds' `scores[].reward`). */
import type { DemoResult } from "./types.js";

export interface AttackerShare {
  /** Base units paid to attackers over every round. */
  attackers: bigint;
  /** Base units paid to everyone. */
  total: bigint;
  /** attackers / total, 0 when nothing was paid. */
  share: number;
}

/** Totals the rewards of the contributors marked as attackers against all rewards paid. */
export function attackerShare(result: Pick<DemoResult, "contributors" | "rounds">): AttackerShare {
  const attackers = new Set(result.contributors.filter((c) => c.attack).map((c) => c.address.toLowerCase()));
  let paid = 0n;
  let total = 0n;
  for (const round of result.rounds) {
    for (const s of round.scores) {
      const reward = BigInt(s.reward);
      total += reward;
      if (attackers.has(s.address.toLowerCase())) paid += reward;
    }
  }
  return { attackers: paid, total, share: total === 0n ? 0 : Number((paid * 1_000_000n) / total) / 1_000_000 };
}
