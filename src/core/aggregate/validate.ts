import { MalformedInputError, UserError } from "../errors.js";
import type { ClientUpdate } from "./types.js";

/**
 * True when every value is finite. One float64 running sum: NaN and ±Infinity propagate into it,
 * while a sum of finite float32 values (< 3.5e38 each) cannot overflow float64 for any array that
 * fits in memory, so this is exact and about as cheap as reading the array once.
 */
export function isFiniteVector(values: Float32Array): boolean {
  // Four independent sums so the adds pipeline instead of waiting on each other.
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const n = values.length;
  const n4 = n - (n % 4);
  let i = 0;
  for (; i < n4; i += 4) {
    s0 += values[i];
    s1 += values[i + 1];
    s2 += values[i + 2];
    s3 += values[i + 3];
  }
  for (; i < n; i++) s0 += values[i];
  return Number.isFinite(s0 + s1 + s2 + s3);
}

/**
 * Checks one update against the expected vector length: Float32Array delta of `length` values,
 * all finite, weight a finite number > 0, non-empty id.
 * @throws MalformedInputError with code AGGREGATE_BAD_UPDATE (data: id, reason).
 */
export function validateUpdate(update: ClientUpdate, length: number): void {
  const id = typeof update?.id === "string" ? update.id : String(update?.id);
  const bad = (reason: string): MalformedInputError =>
    new MalformedInputError(`Update from ${id} cannot be aggregated: ${reason}.`, {
      code: "AGGREGATE_BAD_UPDATE",
      hint: "Reject this submission; the other updates can still be aggregated.",
      data: { id, reason },
    });
  if (typeof update?.id !== "string" || update.id.length === 0) throw bad("missing id");
  if (!(update.delta instanceof Float32Array)) throw bad("delta is not a Float32Array");
  if (update.delta.length === 0) throw bad("delta is empty");
  if (update.delta.length !== length) {
    throw bad(`delta has ${update.delta.length} values, expected ${length}`);
  }
  if (typeof update.weight !== "number" || !Number.isFinite(update.weight) || update.weight <= 0) {
    throw bad(`weight must be a finite number > 0, got ${String(update.weight)}`);
  }
  if (!isFiniteVector(update.delta)) throw bad("delta contains NaN or Infinity");
}

/**
 * Checks a whole batch: at least `minCount` updates, unique ids, same length, each valid.
 * Returns the common vector length.
 * @throws UserError AGGREGATE_TOO_FEW when there are fewer than `minCount` updates;
 *         MalformedInputError AGGREGATE_BAD_UPDATE / AGGREGATE_LENGTH_MISMATCH / AGGREGATE_DUPLICATE_ID.
 */
export function validateUpdates(updates: readonly ClientUpdate[], minCount = 1, strategy = "aggregation"): number {
  if (!Array.isArray(updates)) {
    throw new MalformedInputError("Updates must be an array.", { code: "AGGREGATE_BAD_UPDATE" });
  }
  assertEnough(updates.length, minCount, strategy);
  const first = updates[0];
  // A first update without a proper delta fails validateUpdate below with its own reason.
  const length = first?.delta instanceof Float32Array ? first.delta.length : -1;
  const seen = new Set<string>();
  for (const update of updates) {
    if (update?.delta instanceof Float32Array && update.delta.length !== length) {
      throw new MalformedInputError(
        `Update from ${String(update.id)} has ${update.delta.length} values but the first update has ${length}.`,
        {
          code: "AGGREGATE_LENGTH_MISMATCH",
          hint: "All deltas of a round must come from the same model; check the model fingerprint.",
          data: { id: update.id, length: update.delta.length, expected: length },
        },
      );
    }
    validateUpdate(update, length);
    markSeen(seen, update.id);
  }
  return length;
}

/**
 * Records `id` as aggregated in this round.
 * @throws MalformedInputError AGGREGATE_DUPLICATE_ID when it was already seen.
 */
export function markSeen(seen: Set<string>, id: string): void {
  if (seen.has(id)) {
    throw new MalformedInputError(`Update id ${id} appears twice.`, {
      code: "AGGREGATE_DUPLICATE_ID",
      hint: "Each contributor may submit once per round.",
      data: { id },
    });
  }
  seen.add(id);
}

/** @throws UserError AGGREGATE_TOO_FEW when `count < minCount`. */
export function assertEnough(count: number, minCount: number, strategy: string): void {
  if (count < minCount) {
    throw new UserError(`${strategy} needs at least ${minCount} update(s), got ${count}.`, {
      code: "AGGREGATE_TOO_FEW",
      hint: "Wait for more submissions, raise the deadline, or lower the strategy's parameters.",
      data: { strategy, count, minCount },
    });
  }
}

/** Checks a vector length given by the caller. @throws UserError AGGREGATE_BAD_LENGTH. */
export function assertLength(length: number): void {
  if (!Number.isSafeInteger(length) || length <= 0) {
    throw new UserError(`Vector length must be a positive integer, got ${String(length)}.`, {
      code: "AGGREGATE_BAD_LENGTH",
    });
  }
}
