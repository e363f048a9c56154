import { UserError } from "../errors.js";
import type { ServerState, StrategyName } from "./types.js";

/**
 * Checks a server state handed back by the caller and returns it, or undefined for the first round.
 * @throws UserError AGGREGATE_BAD_STATE when it belongs to another strategy or another model size.
 */
export function checkServerState(
  state: ServerState | undefined,
  strategy: StrategyName,
  length: number,
  moments: ReadonlyArray<"m" | "v">,
): ServerState | undefined {
  if (state === undefined) return undefined;
  const bad = (reason: string): UserError =>
    new UserError(`Server state cannot be used by ${strategy}: ${reason}.`, {
      code: "AGGREGATE_BAD_STATE",
      hint: "The job's strategy or model changed since the state was saved; start from a fresh state.",
      data: { strategy, reason },
    });
  if (state.strategy !== strategy) throw bad(`it was produced by ${String(state.strategy)}`);
  if (!Number.isSafeInteger(state.step) || state.step < 0) throw bad(`step ${String(state.step)} is invalid`);
  for (const key of moments) {
    const buf = state[key];
    if (!(buf instanceof Float32Array)) throw bad(`moment ${key} is missing`);
    if (buf.length !== length) throw bad(`moment ${key} has ${buf.length} values, expected ${length}`);
  }
  return state;
}
