/**
 * Split a round's reward between contributors in proportion to their contribution scores, in
 * integer token base units, deterministically.
 *
 * Formula (documented in the README, "Rewards"):
 *  1. Scores that are not finite numbers, or addresses that are not 20-byte hex, are malformed input.
 *     Addresses are compared case-insensitively; several scores for one address are added up.
 *  2. Only positive scores earn. Each positive score is a double, i.e. exactly m_i · 2^e_i; its
 *     integer weight is w_i = m_i · 2^(e_i − min_j e_j), so the weights are in exactly the ratio of
 *     the scores and the split is pure integer maths, identical on every machine.
 *  3. amount_i = floor(total · w_i / W) with W = Σ w_j. The r = total − Σ amount_i units left over
 *     (r < number of earners) go one each to the r earners with the largest remainders
 *     (total · w_i mod W), ties broken by lower address first.
 *  4. When nobody has a positive score, nobody is paid: the result is empty and nothing of the
 *     total is spent (it stays in the job's pool for later rounds).
 * Earners whose amount rounds to 0 are left out (an on-chain leaf of 0 could not be claimed).
 */
import { MalformedInputError } from "../errors.js";

export interface ContributionScore {
  address: string;
  score: number;
}

export interface RewardShare {
  /** Lower-case 0x address. */
  address: string;
  amount: bigint;
}

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/**
 * Split `total` base units by score. Returns shares sorted by address; their amounts sum to
 * `total` when at least one score is positive, else the result is empty.
 */
export function splitRewards(total: bigint, scores: readonly ContributionScore[]): RewardShare[] {
  if (typeof total !== "bigint" || total < 0n) {
    throw new MalformedInputError(`Reward total must be a non-negative integer, got ${String(total)}.`, { code: "BAD_REWARD_TOTAL" });
  }
  const merged = new Map<string, number>();
  for (const entry of scores) {
    if (typeof entry?.address !== "string" || !ADDRESS.test(entry.address)) {
      throw new MalformedInputError(`Not an address: ${JSON.stringify(entry?.address)}.`, { code: "BAD_ADDRESS" });
    }
    if (typeof entry.score !== "number" || !Number.isFinite(entry.score)) {
      throw new MalformedInputError(`Score for ${entry.address} is not a finite number: ${String(entry.score)}.`, {
        code: "BAD_SCORE",
      });
    }
    const key = entry.address.toLowerCase();
    merged.set(key, (merged.get(key) ?? 0) + entry.score);
  }
  const positive = [...merged].filter(([, s]) => s > 0);
  if (positive.length === 0 || total === 0n) return [];
  const parts = positive.map(([address, s]) => ({ address, ...decompose(s) }));
  const minExponent = Math.min(...parts.map((p) => p.exponent));
  const weighted = parts.map((p) => ({ address: p.address, weight: p.mantissa << BigInt(p.exponent - minExponent) }));
  const sumWeights = weighted.reduce((acc, e) => acc + e.weight, 0n);
  const shares = weighted.map((e) => ({
    address: e.address,
    amount: (total * e.weight) / sumWeights,
    remainder: (total * e.weight) % sumWeights,
  }));
  let left = total - shares.reduce((acc, s) => acc + s.amount, 0n);
  const byRemainder = [...shares].sort((a, b) =>
    a.remainder === b.remainder ? compareAddress(a.address, b.address) : a.remainder > b.remainder ? -1 : 1,
  );
  for (const share of byRemainder) {
    if (left === 0n) break;
    share.amount += 1n;
    left -= 1n;
  }
  return shares
    .filter((s) => s.amount > 0n)
    .map(({ address, amount }) => ({ address, amount }))
    .sort((a, b) => compareAddress(a.address, b.address));
}

/** A positive finite double as mantissa · 2^exponent, exactly (IEEE 754 binary64 fields). */
function decompose(x: number): { mantissa: bigint; exponent: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  return biased === 0
    ? { mantissa: fraction, exponent: -1074 }
    : { mantissa: fraction | (1n << 52n), exponent: biased - 1075 };
}

function compareAddress(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
