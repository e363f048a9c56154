/** Flag parsing shared by `dat node stake` and `dat node unstake`. */
import { parseUnits } from "viem";
import { UsageError } from "../../../core/errors.js";

/** A job id as `--job` takes it (the same rule as everywhere else). */
export function parseStakeJob(job: string | undefined): string {
  if (job === undefined || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(job)) {
    throw new UsageError(`--job must be a job id, got "${job ?? ""}".`, { code: "BAD_JOB" });
  }
  return job;
}

/** A positive DAT amount (at most 18 decimals) in base units. */
export function parseStakeAmount(value: string | undefined): bigint {
  const text = (value ?? "").trim();
  if (!/^\d{1,30}(\.\d{1,18})?$/.test(text) || parseUnits(text, 18) === 0n) {
    throw new UsageError(`--amount must be a positive DAT amount (at most 18 decimals), got "${value ?? ""}".`, { code: "BAD_AMOUNT" });
  }
  return parseUnits(text, 18);
}
