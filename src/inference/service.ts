/**
 * `dat infer` as services. Remote: the orchestrator (`dat serve`) runs the model; we prove our
 * address with a signed challenge. Local: the model runs in this process, either from this home
 * (the embedded orchestrator, same gate in-process) or with the key of an encrypted model released
 * by a remote key service after the same challenge-and-balance check.
 */
import fs from "node:fs";
import path from "node:path";
import type { LocalAccount } from "viem";
import type { DatConfig } from "../config/schema.js";
import { DatError, MalformedInputError, NetworkError, UserError } from "../core/errors.js";
import { signChallenge, type ChallengePurpose, type ChallengeTypedData } from "./challenge.js";
import type { InferAuth, InferResult, InputFile, ModelKeyResult } from "./engine.js";
import { BINARY_INPUT_FORMATS, detectFormat, INPUT_FORMATS, type InputFormat } from "./inputs.js";

export const LOCAL_AUDIENCE = "dat:local";

/**
 * Read input files for a request (PNG as base64, the rest as text). A folder stands for the PNG
 * images in it and its sub-folders (the layout `dat train` reads: one sub-folder per class), in
 * path order, each named by its path inside the folder; other files there are skipped.
 */
export function readInputFiles(paths: string[], format?: InputFormat): InputFile[] {
  if (format !== undefined && !INPUT_FORMATS.includes(format)) {
    throw new UserError(`Unknown input format "${format}".`, { code: "INPUT_FORMAT", hint: `Use one of: ${INPUT_FORMATS.join(", ")}.` });
  }
  const unreadable = (p: string, error: unknown) =>
    new UserError(`Cannot read input file ${p}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { code: "INPUT_UNREADABLE" });
  return paths.flatMap((p) => {
    let isFolder: boolean;
    try {
      isFolder = fs.statSync(p).isDirectory();
    } catch (error) {
      throw unreadable(p, error);
    }
    if (!isFolder) return [readInputFile(p, path.basename(p), format, unreadable)];
    if (format !== undefined && format !== "png") {
      throw new UserError(`${p} is a folder: a folder is read as PNG images, not ${format}.`, { code: "INPUT_FORMAT", hint: "Drop --format or pass --format png." });
    }
    const images = pngFilesIn(p);
    if (images.length === 0) {
      throw new UserError(`No PNG images in the folder ${p}.`, { code: "INPUT_EMPTY", hint: "A folder input is read as its *.png files (sub-folders included)." });
    }
    return images.map((rel) => readInputFile(path.join(p, rel), rel.split(path.sep).join("/"), "png", unreadable));
  });
}

function readInputFile(file: string, name: string, format: InputFormat | undefined, unreadable: (p: string, e: unknown) => Error): InputFile {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (error) {
    throw unreadable(file, error);
  }
  const f = format ?? detectFormat(file, bytes);
  return BINARY_INPUT_FORMATS.includes(f)
    ? { format: f, name, data: bytes.toString("base64"), encoding: "base64" as const }
    : { format: f, name, data: bytes.toString("utf8"), encoding: "utf8" as const };
}

/** The *.png files under `folder`, as paths relative to it, sorted; symbolic links are not followed. */
function pngFilesIn(folder: string): string[] {
  const found: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of fs.readdirSync(path.join(folder, rel), { withFileTypes: true })) {
      const child = path.join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile() && /\.png$/i.test(entry.name)) found.push(child);
    }
  };
  walk("");
  return found.sort();
}

export interface InferRemoteOptions {
  url: string;
  jobId: string;
  files: InputFile[];
  /** Unlocks the wallet; called only when the job turns out to be gated. */
  getAccount: () => Promise<LocalAccount>;
  timeoutMs?: number;
}

/**
 * Ask the orchestrator at `url` for predictions. A public job answers at once; a gated one
 * answers 401, and we retry once with a freshly signed challenge.
 */
export async function inferRemote(options: InferRemoteOptions): Promise<InferResult> {
  const base = options.url.replace(/\/+$/, "");
  const post = (challenge?: unknown) =>
    httpJson<InferResult>(`${base}/jobs/${encodeURIComponent(options.jobId)}/infer`, { files: options.files, ...(challenge ? { challenge } : {}) }, options.timeoutMs);
  try {
    return await post();
  } catch (error) {
    if (!(error instanceof DatError) || error.code !== "AUTH_REQUIRED") throw error;
  }
  const account = await options.getAccount();
  const challenge = await fetchChallenge(base, options.jobId, "infer", options.timeoutMs);
  return post(await signChallenge(account, challenge));
}

/** Fetch a challenge from a server and check it is the one we asked for. */
async function fetchChallenge(base: string, jobId: string, purpose: ChallengePurpose, timeoutMs?: number): Promise<ChallengeTypedData> {
  const challenge = await httpJson<ChallengeTypedData>(`${base}/jobs/${encodeURIComponent(jobId)}/challenge?purpose=${purpose}`, undefined, timeoutMs);
  // Never sign something other than what we asked for.
  const m = challenge?.message;
  if (!m || m.jobId !== jobId || m.purpose !== purpose || challenge.primaryType !== "InferenceChallenge" || challenge.domain?.name !== "dat") {
    throw new NetworkError(`The server at ${base} sent a challenge that is not for job ${jobId} (${purpose}).`, { code: "CHALLENGE_UNEXPECTED" });
  }
  return challenge;
}

/** Ask a key service for the key of a job's encrypted model (challenge + balance check there). */
export async function fetchModelKey(url: string, jobId: string, account: LocalAccount, timeoutMs?: number): Promise<ModelKeyResult> {
  const base = url.replace(/\/+$/, "");
  const challenge = await fetchChallenge(base, jobId, "model-key", timeoutMs);
  return httpJson<ModelKeyResult>(`${base}/jobs/${encodeURIComponent(jobId)}/model-key`, { challenge: await signChallenge(account, challenge) }, timeoutMs);
}

async function httpJson<T>(url: string, body: unknown, timeoutMs = 60_000): Promise<T> {
  const { request } = await import("undici");
  const { errorFromBody } = await import("../core/errorBody.js");
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(url, {
      method: body === undefined ? "GET" : "POST",
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
  } catch (error) {
    throw new NetworkError(`Cannot reach the orchestrator at ${new URL(url).origin}: ${(error as Error).message}`, {
      code: "ORCHESTRATOR_UNREACHABLE",
      cause: error,
      hint: "Check --orchestrator (or orchestrator.url) and that dat serve is running.",
    });
  }
  const text = await res.body.text();
  let parsed: unknown;
  try {
    parsed = text === "" ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (res.statusCode >= 400) throw errorFromBody(res.statusCode, parsed, url);
  if (parsed === undefined) throw new NetworkError(`The orchestrator answered ${url} without JSON.`, { code: "ORCHESTRATOR_BAD_ANSWER" });
  return parsed as T;
}

export interface InferLocalOptions {
  home: string;
  config: DatConfig;
  jobId: string;
  files: InputFile[];
  getAccount: () => Promise<LocalAccount>;
  /** Key service (an orchestrator URL) for a remote job's encrypted model; else this home's job. */
  keyServiceUrl?: string;
}

/**
 * Run the job's model in this process. Without a key service the job, its gate and its model are
 * this home's (the embedded orchestrator), and the same challenge-and-balance check runs in-process.
 * With a key service, the encrypted model's key is released there, the model bytes come from the
 * same server, and the decrypted model is cached in <home>/models-cache/ (encrypted at rest).
 */
export async function inferLocal(options: InferLocalOptions): Promise<InferResult> {
  const { resolveBackend } = await import("../train/backends.js");
  await resolveBackend(options.config.train.backend);
  if (options.keyServiceUrl) return inferWithKeyService(options, options.keyServiceUrl);
  const { openDatabase } = await import("../db/index.js");
  const { InferenceEngine } = await import("./engine.js");
  const { openStore } = await import("../store/index.js");
  const db = openDatabase(options.home);
  const { privateModelStore } = await import("./modelKeys.js");
  const engine = new InferenceEngine({ db, store: privateModelStore(db, await openStore(options.home, options.config)), config: options.config });
  try {
    const job = await engine.job(options.jobId);
    const auth: InferAuth = {};
    if (job.gate) {
      const account = await options.getAccount();
      auth.challenge = await signChallenge(account, await engine.challenge(options.jobId, "infer", LOCAL_AUDIENCE));
    }
    return await engine.infer(options.jobId, auth, { files: options.files });
  } finally {
    engine.close();
    db.close();
  }
}

async function inferWithKeyService(options: InferLocalOptions, url: string): Promise<InferResult> {
  const { decryptModelBlob, readCachedModel, writeCachedModel } = await import("./modelKeys.js");
  const account = await options.getAccount();
  const released = await fetchModelKey(url, options.jobId, account);
  let plain = readCachedModel(options.home, released.modelCid);
  if (!plain) {
    const base = url.replace(/\/+$/, "");
    const blob = await httpBytes(`${base}/models/${encodeURIComponent(released.modelCid)}`);
    // AES-GCM authenticates the bytes: a blob altered on the way does not decrypt.
    plain = decryptModelBlob(blob, new Uint8Array(Buffer.from(released.key, "base64")));
    writeCachedModel(options.home, released.modelCid, plain);
  }
  const { unpackModel } = await import("../train/modelIo.js");
  const { modelInputShape, predictBatch } = await import("./predict.js");
  const { parsePayload } = await import("./engine.js");
  const { toPredictions } = await import("./inputs.js");
  const model = await unpackModel(plain);
  try {
    const inputs = parsePayload({ files: options.files }, { shape: modelInputShape(model), maxBatch: options.config.infer.maxBatch });
    // The key service's answer is remote input: check the spec before it touches any value.
    const { validatePreprocessSpec } = await import("../core/preprocess.js");
    const preprocess = released.preprocess === undefined ? undefined : validatePreprocessSpec(released.preprocess, undefined, "the key service's preprocessing");
    const output = await predictBatch(model, inputs, preprocess);
    return {
      jobId: options.jobId,
      modelCid: released.modelCid,
      round: released.round,
      address: account.address,
      predictions: toPredictions(output, inputs.count, inputs.sources),
    };
  } finally {
    model.dispose();
  }
}

async function httpBytes(url: string): Promise<Uint8Array> {
  const { request } = await import("undici");
  const { errorFromBody } = await import("../core/errorBody.js");
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(url, { headersTimeout: 60_000, bodyTimeout: 60_000 });
  } catch (error) {
    throw new NetworkError(`Cannot reach ${new URL(url).origin}: ${(error as Error).message}`, { code: "ORCHESTRATOR_UNREACHABLE", cause: error });
  }
  const bytes = new Uint8Array(await res.body.arrayBuffer());
  if (res.statusCode >= 400) {
    let parsed: unknown;
    try { parsed = JSON.parse(Buffer.from(bytes).toString("utf8")); } catch { parsed = undefined; }
    throw errorFromBody(res.statusCode, parsed, url);
  }
  if (bytes.length === 0) throw new MalformedInputError(`Empty model from ${url}.`, { code: "MODEL_BLOB_MALFORMED" });
  return bytes;
}
