/**
 * Poisoned updates for the demo's `--attackers K`: a transform of an honest delta applied before
 * it is encoded and sealed, exactly where a malicious contributor would tamper with it. The
 * orchestrator cannot tell a poisoned delta from an honest one by its format; only the robust
 * strategies and the contribution scores can.
 */
import { UsageError } from "../core/errors.js";

export type AttackKind = "sign-flip" | "scale";

export interface AttackSpec {
  kind: AttackKind;
  /** sign-flip: the delta becomes −factor·Δ; scale: factor·Δ. */
  factor: number;
}

export const DEFAULT_ATTACK_FACTORS: Readonly<Record<AttackKind, number>> = { "sign-flip": 1, scale: 10 };

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
  const match = /^(sign-flip|scale)(?::(.+))?$/.exec(text.trim());
  if (!match) {
    throw new UsageError(`Unknown attack "${text}".`, {
      code: "BAD_ATTACK",
      hint: "Use sign-flip, sign-flip:<factor>, scale or scale:<factor> (e.g. scale:20).",
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
