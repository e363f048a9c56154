/**
 * A contributor's privacy ledger: the rounds of each DP job this home released a privatized delta
 * to, so the ε it has spent (core/privacy/spent.ts) is counted per contributor across runs. Written
 * before the delta leaves: a delta sent but never acknowledged may still have been seen.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

/** A contributor's ledger of the rounds of a job it released a privatized delta to. */
function ledgerFile(home: string, jobId: number): string {
  return path.join(home, "privacy", `job-${jobId}.json`);
}

/** Rounds of `jobId` this home has pushed a privatized delta to (an unreadable ledger counts as empty). */
export function readPrivacyLedger(home: string, jobId: number): number[] {
  try {
    const parsed = JSON.parse(fs.readFileSync(ledgerFile(home, jobId), "utf8")) as { rounds?: unknown };
    return Array.isArray(parsed.rounds) ? parsed.rounds.filter((r): r is number => Number.isSafeInteger(r) && r > 0) : [];
  } catch {
    return [];
  }
}

/** Records that round `round` of `jobId` received a privatized delta from this home; returns the rounds. */
export function recordPrivacyRound(home: string, jobId: number, round: number): number[] {
  const rounds = [...new Set([...readPrivacyLedger(home, jobId), round])].sort((a, b) => a - b);
  const file = ledgerFile(home, jobId);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(`${file}.tmp`, JSON.stringify({ jobId, rounds }), { mode: 0o600 });
  fs.renameSync(`${file}.tmp`, file);
  return rounds;
}

/**
 * The secret salt of this home's metrics hashes for a job (32 random bytes, hex, file mode 0600),
 * made on first use: the signed metrics hash commits to the metrics without revealing them to
 * anyone who could guess the few numbers behind it. The contributor can later open the hash by
 * showing the salt and the metrics.
 */
export function metricsSalt(home: string, jobId: number): string {
  const file = path.join(home, "privacy", `job-${jobId}.salt`);
  try {
    const text = fs.readFileSync(file, "utf8").trim();
    if (/^[0-9a-f]{64}$/.test(text)) return text;
  } catch {
    // none yet: make one below
  }
  const salt = crypto.randomBytes(32).toString("hex");
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(`${file}.tmp`, salt, { mode: 0o600 });
  fs.renameSync(`${file}.tmp`, file);
  return salt;
}
