/**
 * Checks commands make before any network call or long wait, so that a mistake the user can fix
 * (a missing file, an unknown job, a second submission) is reported at once and for what it is.
 */
import fs from "node:fs";
import { DeniedError, NotFoundError, UserError } from "../core/errors.js";
import type { JobInfo, Orchestrator } from "../orchestrator/types.js";

/** A local file or folder the command reads: it must exist (NotFoundError `code`, DATA_NOT_FOUND by default) and be readable. */
export function checkLocalPath(flag: string, file: string, code: "DATA_NOT_FOUND" | "MODEL_NOT_FOUND" = "DATA_NOT_FOUND"): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new NotFoundError(`${flag} ${file}: no such file or folder.`, {
      code,
      hint: `Check the path given to ${flag} (relative paths start at ${process.cwd()}).`,
      data: { flag, path: file },
    });
  }
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch {
    throw new UserError(`${flag} ${file}: not readable by this user.`, { code: "DATA_UNREADABLE", data: { flag, path: file } });
  }
  if (!stat.isFile() && !stat.isDirectory()) throw new UserError(`${flag} ${file} is neither a file nor a folder.`, { code: "DATA_UNREADABLE" });
}

/**
 * The job, or NotFoundError JOB_NOT_FOUND (exit 4): the one check every command that names a job
 * makes before it does anything else with it.
 */
export async function requireJob(orch: Pick<Orchestrator, "getJob">, jobId: number): Promise<JobInfo> {
  return orch.getJob(jobId);
}

/**
 * Refuses (exit 5, the intake's SUBMISSION_DUPLICATE code) when `address` already submitted to the
 * job's collecting round: the intake would reject a second delta, so training it would be wasted.
 * Returns the round number checked.
 */
export async function refuseSecondSubmission(orch: Pick<Orchestrator, "currentRound" | "roundStatus">, jobId: number, address: string): Promise<number> {
  const round = await orch.currentRound(jobId);
  const status = await orch.roundStatus(jobId, round.round);
  const mine = status.submissions.find((s) => s.address.toLowerCase() === address.toLowerCase());
  if (mine) {
    throw new DeniedError(`${address} already submitted to round ${round.round} of job ${jobId} (${mine.status}).`, {
      code: "SUBMISSION_DUPLICATE",
      hint: `One submission per address per round; train again when the next round opens (dat round status --job ${jobId}).`,
      data: { jobId, round: round.round, address, blobCid: mine.blobCid },
    });
  }
  return round.round;
}
