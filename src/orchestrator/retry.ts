/**
 * One answer to "is this failure worth retrying?" for the orchestrator's close and aggregation.
 */
import { ExitCode } from "../core/errors.js";

// replaced by core/errors isRetryable at merge
/**
 * Faults worth retrying: the store or the disk failed, the database was busy, the network dropped.
 * Everything else comes from the inputs (a bad delta, an overflowing strategy…) and would recur.
 */
export function isRetryable(error: unknown): boolean {
  if ((error as { exitCode?: unknown })?.exitCode === ExitCode.network) return true;
  const code = (error as { code?: unknown })?.code;
  if (typeof code !== "string") return false;
  return /^(ENOENT|EIO|EACCES|EPERM|ENOSPC|EMFILE|EBUSY|ECONNRESET|ECONNREFUSED|ETIMEDOUT)$/.test(code)
    || /^STORE_|^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN)|^NETWORK|^UND_ERR/.test(code);
}
