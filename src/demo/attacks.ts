/**
 * Poisoned updates for the demo's `--attackers K`: a transform of an honest delta applied before
 * it is encoded and sealed, exactly where a malicious contributor would tamper with it. The
 * orchestrator cannot tell a poisoned delta from an honest one by its format; only the robust
 * strategies and the contribution scores can.
 */
import { seededRandom } from "../core/privacy/noise.js";
import { UsageError } from "../core/errors.js";

export type AttackKind = "sign-flip" | "scale" | "free-ride" | "copy" | "zero" | "noise";

/** Every attack `--attack` takes. */
export const ATTACK_KINDS: readonly AttackKind[] = ["sign-flip", "scale", "free-ride", "copy", "zero", "noise"];

export interface AttackSpec {
  kind: AttackKind;
  /**
   * sign-flip: −factor·Δ; scale: factor·Δ; free-ride: factor × the previous round's public global
   * update (no data used); noise: Gaussian noise of factor × the trained delta's norm; copy and
   * zero ignore it.
   */
  factor: number;
}

export const DEFAULT_ATTACK_FACTORS: Readonly<Record<AttackKind, number>> = {
  "sign-flip": 1, scale: 10, "free-ride": 1, copy: 1, zero: 1, noise: 1,
};

/** A tensor of a delta; the same shape as the training and delta modules use. */
export interface DeltaTensorLike {
  name: string;
  shape: number[];
  data: Float32Array;
}

/**
 * Parse `sign-flip`, `sign-flip:<factor>`, `scale` or `scale:<factor>`.
 * @throws UsageError BAD_ATTACK for anything else, a non-finite factor or one ≤ 0.
 */
export function parseAttack(text: string): AttackSpec {
  const match = /^(sign-flip|scale|free-ride|copy|zero|noise)(?::(.+))?$/.exec(text.trim());
  if (!match) {
    throw new UsageError(`Unknown attack "${text}".`, {
      code: "BAD_ATTACK",
      hint: `Use one of ${ATTACK_KINDS.join(", ")}, optionally with :<factor> (e.g. scale:20).`,
    });
  }
  const kind = match[1] as AttackKind;
  const factor = match[2] === undefined ? DEFAULT_ATTACK_FACTORS[kind] : Number(match[2]);
  if (!Number.isFinite(factor) || factor <= 0) {
    throw new UsageError(`Attack factor must be a positive number, got "${match[2]}".`, {
      code: "BAD_ATTACK",
      hint: "e.g. --attack scale:20",
    });
  }
  return { kind, factor };
}

/** What an attacker can see besides its own trained delta (everything here is public or its own). */
export interface AttackContext {
  /** The previous round's public global update (current global − previous global), per tensor; absent in round 1. */
  previousUpdate?: Float32Array[];
  /** For `copy`: the attackers' shared slot; the first attacker of a round fills it, the others submit it. */
  copySlot?: { round: number; tensors?: DeltaTensorLike[] };
  round: number;
  /** Seed of the noise attack. */
  seed: number;
}

/**
 * The attacker's delta for any kind: the poisoning ones (sign-flip, scale) transform the trained
 * delta; free-ride sends the public previous update (zero in round 1, when there is none); copy
 * submits the first attacker's delta of the round; zero sends zeros; noise sends Gaussian noise as
 * large as the trained delta.
 */
export function attackDelta<T extends DeltaTensorLike>(tensors: readonly T[], attack: AttackSpec, ctx: AttackContext): T[] {
  const fresh = (fill: (i: number, j: number) => number): T[] =>
    tensors.map((t, i) => {
      const data = new Float32Array(t.data.length);
      for (let j = 0; j < data.length; j++) data[j] = fill(i, j);
      return { ...t, shape: [...t.shape], data };
    });
  switch (attack.kind) {
    case "sign-flip":
    case "scale":
      return poisonDelta(tensors, attack);
    case "zero":
      return fresh(() => 0);
    case "free-ride": {
      const u = ctx.previousUpdate;
      return fresh((i, j) => (u && u[i]?.length === tensors[i].data.length ? attack.factor * u[i][j] : 0));
    }
    case "copy": {
      const slot = ctx.copySlot;
      if (!slot) return poisonDelta(tensors, { kind: "scale", factor: 1 });
      if (slot.round !== ctx.round || !slot.tensors) {
        slot.round = ctx.round;
        slot.tensors = tensors.map((t) => ({ name: t.name, shape: [...t.shape], data: Float32Array.from(t.data) }));
      }
      const copied = slot.tensors;
      return fresh((i, j) => copied[i].data[j]);
    }
    case "noise": {
      let normSq = 0;
      for (const t of tensors) for (const v of t.data) normSq += v * v;
      const count = tensors.reduce((n, t) => n + t.data.length, 0);
      const scale = (attack.factor * Math.sqrt(normSq)) / Math.sqrt(Math.max(1, count));
      const random = seededRandom(ctx.seed);
      return fresh(() => scale * gaussian(random));
    }
  }
}

function gaussian(random: () => number): number {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/**
 * Return a poisoned copy of a delta (the input is not modified): every element multiplied by
 * −factor (sign-flip) or factor (scale).
 */
export function poisonDelta<T extends DeltaTensorLike>(tensors: readonly T[], attack: AttackSpec): T[] {
  const multiplier = attack.kind === "sign-flip" ? -attack.factor : attack.factor;
  return tensors.map((t) => {
    const data = new Float32Array(t.data.length);
    for (let i = 0; i < data.length; i++) data[i] = t.data[i] * multiplier;
    return { ...t, shape: [...t.shape], data };
  });
}

/** Poison a flat delta vector (for callers that hold the delta as one Float32Array). */
export function poisonVector(values: Float32Array, attack: AttackSpec): Float32Array {
  return poisonDelta([{ name: "all", shape: [values.length], data: values }], attack)[0].data;
}
