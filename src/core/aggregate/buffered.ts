import { UserError } from "../errors.js";
import type { AggregateResult, ClientUpdate, StrategyAccumulator } from "./types.js";
import { assertLength, markSeen, validateUpdate } from "./validate.js";

/**
 * Accumulator for strategies that need every update at once (median, trimmed mean, Krum): it
 * validates each update as it arrives and keeps a reference to it, O(contributors × model).
 */
export function createBufferedAccumulator(
  length: number,
  strategy: string,
  aggregate: (updates: readonly ClientUpdate[]) => AggregateResult,
): StrategyAccumulator {
  assertLength(length);
  let updates: ClientUpdate[] | undefined = [];
  const seen = new Set<string>();
  return {
    add(update: ClientUpdate): void {
      if (updates === undefined) {
        throw new UserError(`This ${strategy} accumulator was already finished.`, { code: "AGGREGATE_FINISHED" });
      }
      validateUpdate(update, length);
      markSeen(seen, update.id);
      updates.push({ id: update.id, weight: update.weight, delta: update.delta });
    },
    get count() {
      return seen.size;
    },
    finish(): AggregateResult {
      if (updates === undefined) {
        throw new UserError(`This ${strategy} accumulator was already finished.`, { code: "AGGREGATE_FINISHED" });
      }
      const all = updates;
      updates = undefined;
      return aggregate(all);
    },
  };
}
