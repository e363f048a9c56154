/**
 * Rows of the `settlements` table (migration 004): one per (job, round) that was closed and
 * whose rewards were split, published on-chain or still pending.
 */
import type Database from "better-sqlite3";

export type SettlementStatus = "pending" | "published";

export interface Settlement {
  jobId: string;
  round: number;
  modelCid: string;
  rewardTotal: bigint;
  rewardRoot: `0x${string}`;
  /** Empty when nobody earned anything in the round (no tree). */
  treeCid: string;
  amounts: { address: string; amount: bigint }[];
  status: SettlementStatus;
  chainId: number | null;
  distributor: string | null;
  txHash: `0x${string}` | null;
  blockNumber: number | null;
  lastError: string | null;
  attempts: number;
  createdAt: number;
  updatedAt: number;
}

interface Row {
  job_id: string;
  round: number;
  model_cid: string;
  reward_total: string;
  reward_root: string;
  tree_cid: string;
  amounts_json: string;
  status: SettlementStatus;
  chain_id: number | null;
  distributor: string | null;
  tx_hash: string | null;
  block_number: number | null;
  last_error: string | null;
  attempts: number;
  created_at: number;
  updated_at: number;
}

function fromRow(row: Row): Settlement {
  const amounts = (JSON.parse(row.amounts_json) as { address: string; amount: string }[]).map((a) => ({
    address: a.address,
    amount: BigInt(a.amount),
  }));
  return {
    jobId: row.job_id,
    round: row.round,
    modelCid: row.model_cid,
    rewardTotal: BigInt(row.reward_total),
    rewardRoot: row.reward_root as `0x${string}`,
    treeCid: row.tree_cid,
    amounts,
    status: row.status,
    chainId: row.chain_id,
    distributor: row.distributor,
    txHash: row.tx_hash as `0x${string}` | null,
    blockNumber: row.block_number,
    lastError: row.last_error,
    attempts: row.attempts,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The settlement of one round, or undefined. */
export function getSettlement(db: Database.Database, jobId: string, round: number): Settlement | undefined {
  const row = db.prepare("SELECT * FROM settlements WHERE job_id = ? AND round = ?").get(jobId, round) as Row | undefined;
  return row ? fromRow(row) : undefined;
}

/** What a close records: the split, before any attempt to publish it. */
export type NewSettlement = Pick<Settlement, "jobId" | "round" | "modelCid" | "rewardTotal" | "rewardRoot" | "treeCid" | "amounts">;

/** Record a round's split as pending; a row already there is kept as is (the first split wins). */
export function insertPendingSettlement(db: Database.Database, s: NewSettlement, now = Date.now()): Settlement {
  db.prepare(
    `INSERT INTO settlements (job_id, round, model_cid, reward_total, reward_root, tree_cid, amounts_json, status, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)
     ON CONFLICT (job_id, round) DO NOTHING`,
  ).run(
    s.jobId,
    s.round,
    s.modelCid,
    s.rewardTotal.toString(),
    s.rewardRoot,
    s.treeCid,
    JSON.stringify(s.amounts.map((a) => ({ address: a.address, amount: a.amount.toString() }))),
    now,
    now,
  );
  return getSettlement(db, s.jobId, s.round)!;
}

/** Note an attempt to publish (the tx hash when one was sent, the error when it failed). */
export function recordSettlementAttempt(
  db: Database.Database,
  jobId: string,
  round: number,
  attempt: { chainId: number; distributor: string; txHash?: string | null; error?: string | null },
  now = Date.now(),
): void {
  db.prepare(
    `UPDATE settlements SET chain_id = ?, distributor = ?, tx_hash = COALESCE(?, tx_hash), last_error = ?,
       attempts = attempts + 1, updated_at = ? WHERE job_id = ? AND round = ? AND status = 'pending'`,
  ).run(attempt.chainId, attempt.distributor, attempt.txHash ?? null, attempt.error ?? null, now, jobId, round);
}

/** Mark a round published: only call once the chain has confirmed it. */
export function markSettlementPublished(
  db: Database.Database,
  jobId: string,
  round: number,
  confirmed: { chainId: number; distributor: string; txHash: string | null; blockNumber: number },
  now = Date.now(),
): void {
  db.prepare(
    `UPDATE settlements SET status = 'published', chain_id = ?, distributor = ?, tx_hash = COALESCE(?, tx_hash),
       block_number = ?, last_error = NULL, updated_at = ? WHERE job_id = ? AND round = ?`,
  ).run(confirmed.chainId, confirmed.distributor, confirmed.txHash, confirmed.blockNumber, now, jobId, round);
}
