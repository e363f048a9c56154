/**
 * Rows of the inference tables (migration 005): challenge nonces that work once, and the keys
 * of encrypted published models.
 */
import type Database from "better-sqlite3";

export type ChallengePurpose = "infer" | "model-key";

export interface ChallengeRow {
  nonce: string;
  jobId: string;
  purpose: ChallengePurpose;
  audience: string;
  chainId: number;
  issuedAt: number;
  expiresAt: number;
  usedAt: number | null;
  usedBy: string | null;
}

interface RawChallengeRow {
  nonce: string;
  job_id: string;
  purpose: string;
  audience: string;
  chain_id: number;
  issued_at: number;
  expires_at: number;
  used_at: number | null;
  used_by: string | null;
}

/** Record a freshly issued nonce. */
export function insertChallenge(db: Database.Database, row: Omit<ChallengeRow, "usedAt" | "usedBy">): void {
  db.prepare(
    `INSERT INTO inference_challenges (nonce, job_id, purpose, audience, chain_id, issued_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  ).run(row.nonce, row.jobId, row.purpose, row.audience, row.chainId, row.issuedAt, row.expiresAt);
}

/** The nonce's row, or undefined when this server never issued it. */
export function getChallenge(db: Database.Database, nonce: string): ChallengeRow | undefined {
  const raw = db.prepare(`SELECT * FROM inference_challenges WHERE nonce = ?`).get(nonce) as RawChallengeRow | undefined;
  if (!raw) return undefined;
  return {
    nonce: raw.nonce,
    jobId: raw.job_id,
    purpose: raw.purpose as ChallengePurpose,
    audience: raw.audience,
    chainId: raw.chain_id,
    issuedAt: raw.issued_at,
    expiresAt: raw.expires_at,
    usedAt: raw.used_at,
    usedBy: raw.used_by,
  };
}

/**
 * Mark a nonce used. Returns false when it was already used: the conditional UPDATE makes the
 * check and the write one atomic step, so two concurrent requests cannot both spend it.
 */
export function consumeChallenge(db: Database.Database, nonce: string, usedBy: string, usedAt: number): boolean {
  const info = db
    .prepare(`UPDATE inference_challenges SET used_at = ?, used_by = ? WHERE nonce = ? AND used_at IS NULL`)
    .run(usedAt, usedBy, nonce);
  return info.changes === 1;
}

/** Forget nonces that expired before `before` (seconds); returns how many went. */
export function pruneChallenges(db: Database.Database, before: number): number {
  return db.prepare(`DELETE FROM inference_challenges WHERE expires_at < ?`).run(before).changes;
}

export interface ModelKeyRow {
  modelCid: string;
  jobId: string;
  plainCid: string | null;
  key: Uint8Array;
  createdAt: number;
}

/** Keep the key of an encrypted model blob (the orchestrator's key service releases it). */
export function insertModelKey(db: Database.Database, row: ModelKeyRow): void {
  db.prepare(
    `INSERT OR REPLACE INTO model_keys (model_cid, job_id, plain_cid, key, created_at) VALUES (?, ?, ?, ?, ?)`,
  ).run(row.modelCid, row.jobId, row.plainCid, Buffer.from(row.key), row.createdAt);
}

/** The key of an encrypted model blob, or undefined when the CID is not an encrypted model. */
export function getModelKey(db: Database.Database, modelCid: string): ModelKeyRow | undefined {
  const raw = db.prepare(`SELECT * FROM model_keys WHERE model_cid = ?`).get(modelCid) as
    | { model_cid: string; job_id: string; plain_cid: string | null; key: Buffer; created_at: number }
    | undefined;
  if (!raw) return undefined;
  return { modelCid: raw.model_cid, jobId: raw.job_id, plainCid: raw.plain_cid, key: new Uint8Array(raw.key), createdAt: raw.created_at };
}

/** The newest encrypted copy of the plain model `plainCid` (any job), with its key; undefined when none. */
export function getModelKeyByPlainCid(db: Database.Database, plainCid: string): ModelKeyRow | undefined {
  const raw = db.prepare(`SELECT model_cid FROM model_keys WHERE plain_cid = ? ORDER BY created_at DESC LIMIT 1`).get(plainCid) as
    | { model_cid: string }
    | undefined;
  return raw ? getModelKey(db, raw.model_cid) : undefined;
}

/** CID of the encrypted copy of a job's plain model `plainCid`, when one was published. */
export function getEncryptedCopy(db: Database.Database, jobId: string, plainCid: string): string | undefined {
  const row = db.prepare(`SELECT model_cid FROM model_keys WHERE job_id = ? AND plain_cid = ? ORDER BY created_at DESC LIMIT 1`)
    .get(jobId, plainCid) as { model_cid: string } | undefined;
  return row?.model_cid;
}

/** Who a blob belongs to, for the model download route: sealed deltas and the jobs whose models it is. */
export interface BlobOwners {
  /** A submission's sealed delta (operator only). */
  sealedDelta: boolean;
  /** An encrypted model copy (safe to serve: its key is released after the gate). */
  encryptedCopy: boolean;
  /** Jobs using it as a plaintext model (initial, a round's base or a round's result), with their gate minimum. */
  jobs: { id: number; gateMin: string | null; encryptModel: boolean }[];
}

export function blobOwners(db: Database.Database, cid: string): BlobOwners {
  const sealedDelta = db.prepare("SELECT 1 FROM submissions WHERE blob_cid = ? LIMIT 1").get(cid) !== undefined;
  const encryptedCopy = db.prepare("SELECT 1 FROM model_keys WHERE model_cid = ? LIMIT 1").get(cid) !== undefined;
  const rows = db.prepare(`SELECT id, gate_min AS gateMin, encrypt_model AS encryptModel FROM jobs WHERE initial_model_cid = @cid
      OR id IN (SELECT job_id FROM rounds WHERE base_model_cid = @cid OR model_cid = @cid)
      OR CAST(id AS TEXT) IN (SELECT job_id FROM model_keys WHERE plain_cid = @cid)`).all({ cid }) as { id: number; gateMin: string | null; encryptModel: number }[];
  return { sealedDelta, encryptedCopy, jobs: rows.map((r) => ({ ...r, encryptModel: r.encryptModel === 1 })) };
}
