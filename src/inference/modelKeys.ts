/**
 * Encrypted published models. The orchestrator may publish a job's global models encrypted with
 * AES-256-GCM under a fresh per-model key that only its key service holds; the key service
 * releases a key only after the same signed-challenge-and-balance check as inference. A consumer
 * keeps the decrypted model in <home>/models-cache/, encrypted again at rest under a key that
 * only this home holds, every file mode 0600.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type Database from "better-sqlite3";
import { DeniedError, MalformedInputError } from "../core/errors.js";
import { getEncryptedCopy, getModelKey, getModelKeyByPlainCid, insertModelKey } from "../db/challenges.js";
import { getJobEcon } from "../db/econ.js";
import type { BlobStore, GetOptions } from "../store/index.js";
import { bytesMatchCid, cidForBytes } from "../store/cid.js";

const MAGIC = Buffer.from("DATE", "ascii");
const VERSION = 1;
const HEADER = MAGIC.length + 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const MODEL_KEY_BYTES = 32;

export interface EncryptedModel {
  /** "DATE", version byte, 12-byte IV, ciphertext, 16-byte GCM tag. */
  blob: Uint8Array;
  key: Uint8Array;
}

/** Encrypt a packed model blob (or any bytes) under `key`, a fresh random key when omitted. */
export function encryptModelBlob(plain: Uint8Array, key: Uint8Array = randomBytes(MODEL_KEY_BYTES)): EncryptedModel {
  if (key.length !== MODEL_KEY_BYTES) throw new RangeError(`model key must be ${MODEL_KEY_BYTES} bytes`);
  const iv = randomBytes(IV_BYTES);
  const header = Buffer.concat([MAGIC, Buffer.from([VERSION])]);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  // The header is authenticated too, so a tampered version byte fails like tampered ciphertext.
  cipher.setAAD(header);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return { blob: new Uint8Array(Buffer.concat([header, iv, body, cipher.getAuthTag()])), key: new Uint8Array(key) };
}

/** Whether `bytes` is an encrypted model blob (by its header). */
export function isEncryptedModelBlob(bytes: Uint8Array): boolean {
  return bytes.length >= HEADER && Buffer.from(bytes.subarray(0, MAGIC.length)).equals(MAGIC);
}

/**
 * Decrypt a blob made by encryptModelBlob. Throws MalformedInputError for a blob of the wrong form
 * and DeniedError (MODEL_KEY_WRONG) when the key does not open it (wrong key or tampered bytes).
 */
export function decryptModelBlob(blob: Uint8Array, key: Uint8Array): Uint8Array {
  if (!isEncryptedModelBlob(blob) || blob.length < HEADER + IV_BYTES + TAG_BYTES) {
    throw new MalformedInputError("Not an encrypted dat model blob.", { code: "MODEL_BLOB_MALFORMED" });
  }
  if (blob[MAGIC.length] !== VERSION) {
    throw new MalformedInputError(`Encrypted model version ${blob[MAGIC.length]} is not supported.`, { code: "MODEL_BLOB_MALFORMED" });
  }
  if (key.length !== MODEL_KEY_BYTES) {
    throw new MalformedInputError(`A model key is ${MODEL_KEY_BYTES} bytes, got ${key.length}.`, { code: "MODEL_KEY_MALFORMED" });
  }
  const iv = blob.subarray(HEADER, HEADER + IV_BYTES);
  const tag = blob.subarray(blob.length - TAG_BYTES);
  const body = blob.subarray(HEADER + IV_BYTES, blob.length - TAG_BYTES);
  const decipher = createDecipheriv("aes-256-gcm", key, iv);
  decipher.setAAD(blob.subarray(0, HEADER));
  decipher.setAuthTag(tag);
  try {
    return new Uint8Array(Buffer.concat([decipher.update(body), decipher.final()]));
  } catch (error) {
    throw new DeniedError("The model key does not open this model (wrong key or altered bytes).", { code: "MODEL_KEY_WRONG", cause: error });
  }
}

/** The store operation publishing needs (BlobStore satisfies it). */
export interface BlobPut {
  put(bytes: Uint8Array): Promise<string>;
}

/** What decides whether a job's models are private (the jobs and job_econ tables have all three). */
export interface ModelPrivacy {
  encryptModel: boolean;
  /** Base units of the gate token; "0": no gate; null: the default gate (see jobGate). */
  gateMin: string | null;
  /** The job's minimum stake in base units; null or "0": none. */
  minStake: string | null;
}

/**
 * A job's gate, the one rule inference, downloads and storage share: `{ min }` in base units of the
 * gate token (`min` undefined: one whole token, read from the token's decimals at check time), or
 * null for a public job. An explicit gate minimum wins ("0": public). Without one the gate follows the
 * minimum stake: anyone can register for free and pull a model, so a gate means something only when
 * contributors are staked; a job with a positive minimum stake is gated at one whole token, one
 * without is public (so is an older row that stored no gate minimum and no stake).
 */
export function jobGate(job: { gateMin: string | null; minStake: string | null }): { min?: bigint } | null {
  if (job.gateMin !== null) return /^\d+$/.test(job.gateMin) && BigInt(job.gateMin) > 0n ? { min: BigInt(job.gateMin) } : null;
  return hasStake(job.minStake) ? {} : null;
}

/** Whether a minimum stake (base units) is positive. */
export function hasStake(minStake: string | null | undefined): boolean {
  return typeof minStake === "string" && /^\d+$/.test(minStake) && BigInt(minStake) > 0n;
}

/** Whether a job's gate (jobGate) makes its models private. */
export function gatesDownloads(job: { gateMin: string | null; minStake: string | null }): boolean {
  return jobGate(job) !== null;
}

/**
 * Whether a job's models are stored only encrypted: a gated job's (jobGate), because a blob store's
 * CIDs are public (IPFS), and an `--encrypt-model` job's.
 */
export function modelIsPrivate(job: ModelPrivacy): boolean {
  return job.encryptModel || gatesDownloads(job);
}

/** A private model stored encrypted: its plaintext CID, the encrypted blob's CID and the key. */
export interface SealedModel {
  plainCid: string;
  cid: string;
  key: Uint8Array;
}

/**
 * Puts only the encrypted form of a model in the store (under a fresh key) and returns what
 * recordModelKey needs. The plaintext CID (what rounds, submissions and the chain name) is computed,
 * never stored: privateModelStore reads it back through the key.
 */
export async function sealModel(store: BlobPut, plain: Uint8Array): Promise<SealedModel> {
  const plainCid = await cidForBytes(plain);
  const { blob, key } = encryptModelBlob(plain);
  return { plainCid, cid: await store.put(blob), key };
}

/** Records the key of a sealed model for `jobId` (the key service and privateModelStore read it). */
export function recordModelKey(db: Database.Database, jobId: string, sealed: SealedModel, now = Math.floor(Date.now() / 1000)): void {
  insertModelKey(db, { modelCid: sealed.cid, jobId, plainCid: sealed.plainCid, key: sealed.key, createdAt: now });
}

/**
 * Stores a private job model (modelIsPrivate) encrypted only, once per (job, plaintext): a close
 * redone after a crash reuses the copy it made. Returns the plaintext CID and the encrypted copy's.
 */
export async function putPrivateModel(db: Database.Database, store: BlobPut, jobId: string, plain: Uint8Array): Promise<{ plainCid: string; cid: string }> {
  const plainCid = await cidForBytes(plain);
  const existing = getEncryptedCopy(db, jobId, plainCid);
  if (existing) return { plainCid, cid: existing };
  const sealed = await sealModel(store, plain);
  recordModelKey(db, jobId, sealed);
  return { plainCid, cid: sealed.cid };
}

/**
 * Stores a job's model as the job requires: a private job's (modelIsPrivate) only encrypted, any
 * other in plaintext. `modelCid` is the plaintext CID either way (rounds and the chain name it);
 * `encryptedModelCid`, for an `--encrypt-model` job, is the copy consumers fetch with a released key.
 */
export async function putJobModel(
  db: Database.Database, store: BlobPut, job: Omit<ModelPrivacy, "minStake"> & { id: number }, plain: Uint8Array,
): Promise<{ modelCid: string; encryptedModelCid?: string }> {
  if (!modelIsPrivate({ ...job, minStake: getJobEcon(db, job.id).minStake })) return { modelCid: await store.put(plain) };
  const { plainCid, cid } = await putPrivateModel(db, store, String(job.id), plain);
  return { modelCid: plainCid, encryptedModelCid: job.encryptModel ? cid : undefined };
}

/**
 * The blob store of a home as the orchestrator and inference read it: a private model, stored
 * only encrypted, is read under its plaintext CID (the encrypted copy, opened with its key and
 * checked against that CID); everything else passes through. Writes pass through unchanged.
 */
export function privateModelStore(db: Database.Database, store: BlobStore): BlobStore {
  return {
    put: (bytes) => store.put(bytes),
    has: async (cid) => getModelKeyByPlainCid(db, cid) !== undefined || store.has(cid),
    async get(cid: string, options?: GetOptions): Promise<Uint8Array> {
      const sealed = getModelKeyByPlainCid(db, cid);
      if (!sealed) return store.get(cid, options);
      const maxBytes = options?.maxBytes === undefined ? undefined : options.maxBytes + HEADER + IV_BYTES + TAG_BYTES;
      const plain = decryptModelBlob(await store.get(sealed.modelCid, { maxBytes }), sealed.key);
      if (!(await bytesMatchCid(plain, cid))) {
        throw new MalformedInputError(`The encrypted copy ${sealed.modelCid} does not open to model ${cid}.`, {
          code: "BLOB_CORRUPT",
          data: { cid, encryptedCid: sealed.modelCid },
        });
      }
      return plain;
    },
  };
}

export interface PublishEncryptedModelResult {
  /** CID of the encrypted blob: publish this one as the job's global model. */
  cid: string;
}

/**
 * Encrypt a packed model for `jobId`, put the ciphertext in the store and keep its key in the
 * database for the key service. The orchestrator calls this when a job has encrypt_model set.
 */
export async function publishEncryptedModel(
  db: Database.Database,
  store: BlobPut,
  options: { jobId: string; plain: Uint8Array; plainCid?: string; now?: number },
): Promise<PublishEncryptedModelResult> {
  const { blob, key } = encryptModelBlob(options.plain);
  const cid = await store.put(blob);
  insertModelKey(db, {
    modelCid: cid,
    jobId: options.jobId,
    plainCid: options.plainCid ?? null,
    key,
    createdAt: options.now ?? Math.floor(Date.now() / 1000),
  });
  return { cid };
}

/** The key of an encrypted model of `jobId`, or undefined when the CID is not encrypted. */
export function lookupModelKey(db: Database.Database, jobId: string, cid: string): Uint8Array | undefined {
  const row = getModelKey(db, cid);
  if (!row || row.jobId !== jobId) return undefined;
  return row.key;
}

// ---- the consumer's cache of decrypted models, encrypted at rest under a home-only key ----

/** Folder of cached models in a home. */
export function modelsCacheDir(home: string): string {
  return path.join(home, "models-cache");
}

const CACHE_KEY_FILE = ".cache.key";

function cacheKey(home: string): Buffer {
  const dir = modelsCacheDir(home);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  const file = path.join(dir, CACHE_KEY_FILE);
  try {
    const key = fs.readFileSync(file);
    if (key.length === MODEL_KEY_BYTES) return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const key = randomBytes(MODEL_KEY_BYTES);
  // wx: two processes racing to create the key must not end up with different keys.
  try {
    fs.writeFileSync(file, key, { mode: 0o600, flag: "wx" });
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return fs.readFileSync(file);
    throw error;
  }
}

function cacheFile(home: string, cid: string): string {
  if (!/^[A-Za-z0-9]+$/.test(cid)) throw new MalformedInputError(`Not a CID: ${JSON.stringify(cid)}`, { code: "CID_MALFORMED" });
  return path.join(modelsCacheDir(home), `${cid}.enc`);
}

/** Keep a decrypted model in the home's cache, encrypted at rest, mode 0600. */
export function writeCachedModel(home: string, cid: string, plain: Uint8Array): string {
  const { blob } = encryptModelBlob(plain, cacheKey(home));
  const file = cacheFile(home, cid);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, blob, { mode: 0o600 });
  fs.renameSync(tmp, file);
  return file;
}

/** A cached model's plain bytes, or undefined when not cached (or unreadable: it is then dropped). */
export function readCachedModel(home: string, cid: string): Uint8Array | undefined {
  const file = cacheFile(home, cid);
  let blob: Buffer;
  try {
    blob = fs.readFileSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    return decryptModelBlob(blob, cacheKey(home));
  } catch {
    // A cache entry that no longer opens (key replaced, file damaged) is worth nothing: refetch.
    fs.rmSync(file, { force: true });
    return undefined;
  }
}
