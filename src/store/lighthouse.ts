/**
 * Blob store on IPFS through Lighthouse.
 *
 * Upload: POST <uploadUrl>/api/v0/add?cid-version=1 with a multipart "file" field and
 * `Authorization: Bearer <key>`, answered {Name, Hash, Size} — the endpoint and shapes that
 * @lighthouse-web3/sdk's `uploadBuffer` uses (its source, 0.4.x). The request is made here with
 * undici rather than through the SDK because the SDK reads its host from a process-wide mutable
 * config object (two stores with two URLs in one process would race), has no timeout, and turns
 * every HTTP failure into `new Error(body.error)`, losing the status that decides whether a retry
 * can help. The returned CID must equal the one dat computes (cid.ts).
 *
 * Errors: the SDK's source reads a failed answer's message from a JSON body `{ "error": "…" }`;
 * that message is shown (key redacted). 401/403 → DeniedError, 402 (quota) and 413 (size) →
 * UserError, other 4xx → NetworkError; none retried. 408, 429, 5xx and connection faults are
 * retried with bounded, jittered exponential backoff. The whole upload is bounded by `timeoutMs`.
 *
 * Download: GET <gatewayUrl>/ipfs/<cid>. A raw-leaf CID (bafkrei…) names exactly the file's bytes,
 * so they are fetched plainly and hashed. Any other CID is fetched as a CAR (`?format=car`) and
 * every block checked (car.ts), so content chunked by any tool verifies. A gateway that ignores the
 * CAR request and sends plain bytes is checked by recomputing the CID with dat's own layout, which
 * verifies exactly what dat (and Lighthouse's default) uploads. Redirects are followed (at most
 * `maxRedirects`): the CID check makes another host as safe as the first.
 *
 * The API key comes from `store.lighthouse.apiKey` (env DAT_LIGHTHOUSE_API_KEY); it is sent only
 * in the Authorization header of uploads and never appears in errors or logs.
 */
import type { Dispatcher } from "undici";
import { DatError, DeniedError, MalformedInputError, NetworkError, NotFoundError, UserError } from "../core/errors.js";
import type { BlobStore, GetOptions } from "./blobStore.js";
import { bytesMatchCid, canonicalCid, cidForBytes, parseCid } from "./cid.js";

export interface LighthouseStoreOptions {
  uploadUrl: string;
  gatewayUrl: string;
  apiKey?: string;
  /** Attempts per request, including the first; default 4. */
  attempts?: number;
  /** First backoff delay in ms, doubled after each failure (full jitter, capped at 8×); default 250. */
  backoffMs?: number;
  /** Largest blob fetched from the gateway, in bytes, unless a get() asks for less; default 2 GiB. */
  maxBytes?: number;
  /** Upload: whole request. Gateway: time to headers and between body chunks. In ms; default 60 s. */
  timeoutMs?: number;
  /** Gateway redirects followed per request; default 5. */
  maxRedirects?: number;
}

const RAW_CODEC = 0x55;
const SHA2_256 = 0x12;
const CAR_TYPE = "application/vnd.ipld.car";
const RETRYABLE_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "EAI_AGAIN", "ENOTFOUND", "UND_ERR_SOCKET", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CLOSED"]);

function isConnectionFault(error: unknown): boolean {
  for (let e = error as { code?: string; cause?: unknown; message?: string } | undefined; e; e = e.cause as typeof e) {
    if (e.code && RETRYABLE_CODES.has(e.code)) return true;
    if (typeof e.message === "string" && /fetch failed|socket|other side closed|terminated|ECONN/i.test(e.message)) return true;
  }
  return false;
}

/** A failure worth another attempt: 408/429/5xx, or a connection fault. */
class Transient extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export class LighthouseBlobStore implements BlobStore {
  private readonly opts: Required<Omit<LighthouseStoreOptions, "apiKey">> & { apiKey?: string };
  private dispatcher?: Promise<Dispatcher>;

  constructor(options: LighthouseStoreOptions) {
    this.opts = {
      attempts: options.attempts ?? 4,
      backoffMs: options.backoffMs ?? 250,
      maxBytes: options.maxBytes ?? 2 ** 31,
      timeoutMs: options.timeoutMs ?? 60_000,
      maxRedirects: options.maxRedirects ?? 5,
      apiKey: options.apiKey,
      uploadUrl: options.uploadUrl.replace(/\/+$/, ""),
      gatewayUrl: options.gatewayUrl.replace(/\/+$/, ""),
    };
  }

  /** The gateway's client: per store, following redirects; never the process-wide dispatcher's settings. */
  private gatewayDispatcher(): Promise<Dispatcher> {
    return (this.dispatcher ??= import("undici").then(({ Agent, interceptors }) => new Agent().compose(interceptors.redirect({ maxRedirections: this.opts.maxRedirects }))));
  }

  private async withRetries<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let last: Transient | undefined;
    for (let attempt = 0; attempt < this.opts.attempts; attempt++) {
      if (attempt > 0) {
        const ceiling = this.opts.backoffMs * 2 ** Math.min(attempt - 1, 3);
        const delay = Math.max(ceiling / 2 + Math.random() * (ceiling / 2), Math.min(last?.retryAfterMs ?? 0, 30_000));
        await new Promise((r) => setTimeout(r, delay));
      }
      try {
        return await fn();
      } catch (error) {
        if (error instanceof Transient) last = error;
        else if (!(error instanceof DatError) && isConnectionFault(error)) last = new Transient(describe(error));
        else throw error;
      }
    }
    throw new NetworkError(`${what} failed after ${this.opts.attempts} attempts: ${last?.message ?? "no answer"}.`, {
      code: "STORE_UNREACHABLE",
      cause: last,
      hint: "Check your network and the store.lighthouse URLs (dat config get store.lighthouse.gatewayUrl), then retry.",
    });
  }

  async put(bytes: Uint8Array): Promise<string> {
    const apiKey = this.opts.apiKey;
    if (!apiKey) {
      throw new UserError("No Lighthouse API key is configured.", {
        code: "LIGHTHOUSE_NO_API_KEY",
        hint: "Set DAT_LIGHTHOUSE_API_KEY, or run: dat config set store.lighthouse.apiKey <key>",
      });
    }
    const expected = await cidForBytes(bytes);
    const endpoint = `${this.opts.uploadUrl}/api/v0/add?cid-version=1`;
    const answer = await this.withRetries(`Uploading to ${this.opts.uploadUrl}`, async () => {
      const { fetch, FormData } = await import("undici");
      const form = new FormData();
      form.set("file", new Blob([bytes]), "blob");
      let res: Awaited<ReturnType<typeof fetch>>;
      try {
        res = await fetch(endpoint, {
          method: "POST",
          body: form,
          headers: { authorization: `Bearer ${apiKey}` },
          // A redirect would carry the key to wherever it points: refuse it rather than follow.
          redirect: "manual",
          signal: AbortSignal.timeout(this.opts.timeoutMs),
        });
      } catch (error) {
        if (isTimeout(error)) throw uploadTimeout(this.opts.uploadUrl, this.opts.timeoutMs, error);
        throw error;
      }
      let text: string;
      try {
        text = await res.text();
      } catch (error) {
        if (isTimeout(error)) throw uploadTimeout(this.opts.uploadUrl, this.opts.timeoutMs, error);
        throw error;
      }
      if (res.status === 200) return text;
      throw classifyUploadFailure(res.status, redact(serviceMessage(text), apiKey), res.headers.get("retry-after"), this.opts.uploadUrl);
    });
    let got: unknown;
    try {
      got = (JSON.parse(answer) as { Hash?: unknown }).Hash;
    } catch {
      got = undefined;
    }
    if (typeof got !== "string") {
      throw new NetworkError("Lighthouse answered the upload without a CID.", { code: "LIGHTHOUSE_BAD_ANSWER", hint: "Check store.lighthouse.uploadUrl points at a Lighthouse upload endpoint." });
    }
    let gotCanonical: string;
    try {
      gotCanonical = canonicalCid(got);
    } catch {
      gotCanonical = got;
    }
    if (gotCanonical !== expected) {
      throw new MalformedInputError(`Lighthouse stored the blob as ${got}, but dat computes ${expected} for its bytes.`, {
        code: "LIGHTHOUSE_CID_MISMATCH",
        hint: "The upload endpoint chunks files differently from kubo's defaults (256 KiB, raw leaves) or altered the bytes; do not use this CID.",
        data: { expected, got },
      });
    }
    return expected;
  }

  async get(cid: string, options: GetOptions = {}): Promise<Uint8Array> {
    const parsed = parseCid(cid);
    const maxBytes = Math.min(options.maxBytes ?? this.opts.maxBytes, this.opts.maxBytes);
    if (parsed.multihash.code !== SHA2_256) {
      throw new MalformedInputError(`CID ${cid} uses hash function 0x${parsed.multihash.code.toString(16)}; dat verifies only sha2-256 content.`, {
        code: "CID_UNSUPPORTED_HASH",
        hint: "Ask for the sha2-256 CID of the content (the IPFS default).",
      });
    }
    const text = parsed.toString();
    // A raw-leaf CID is the hash of the whole file: plain bytes are verified exactly and cheaply.
    const asCar = parsed.code !== RAW_CODEC;
    const url = `${this.opts.gatewayUrl}/ipfs/${text}${asCar ? "?format=car" : ""}`;
    const source = `The gateway ${this.opts.gatewayUrl}`;
    const dispatcher = await this.gatewayDispatcher();
    return this.withRetries(`Fetching ${cid} from ${this.opts.gatewayUrl}`, async () => {
      const res = await gatewayRequest(url, this.opts.gatewayUrl, {
        method: "GET",
        dispatcher,
        headers: asCar ? { accept: `${CAR_TYPE};version=1;order=dfs;dups=n, ${CAR_TYPE}` } : { accept: "application/octet-stream, */*" },
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: this.opts.timeoutMs,
      });
      if (res.statusCode !== 200) {
        const body = await readSmall(res.body);
        throw classifyGatewayFailure(res.statusCode, body, cid, this.opts.gatewayUrl, res.headers["retry-after"]);
      }
      const declared = Number(res.headers["content-length"] ?? NaN);
      const contentType = String(res.headers["content-type"] ?? "");
      if (asCar && contentType.startsWith(CAR_TYPE)) {
        const { verifyCarFile } = await import("./car.js");
        try {
          return await verifyCarFile(res.body, parsed, { maxBytes, source });
        } finally {
          discard(res.body);
        }
      }
      if (declared > maxBytes) {
        discard(res.body);
        throw tooLarge(cid, maxBytes);
      }
      const bytes = await readBounded(res.body, cid, maxBytes);
      if (!(await bytesMatchCid(bytes, text))) {
        throw new MalformedInputError(`${source} returned bytes that do not match CID ${cid}.`, {
          code: "BLOB_CID_MISMATCH",
          hint: asCar
            ? `The gateway did not answer with a CAR, so only content laid out as dat uploads it (256 KiB chunks) could be checked. Use a gateway that serves ?format=car (store.lighthouse.gatewayUrl).`
            : `The gateway served wrong or damaged content; try another gateway (store.lighthouse.gatewayUrl).`,
          data: { cid, gateway: this.opts.gatewayUrl },
        });
      }
      return bytes;
    });
  }

  async has(cid: string): Promise<boolean> {
    const url = `${this.opts.gatewayUrl}/ipfs/${parseCid(cid).toString()}`;
    const dispatcher = await this.gatewayDispatcher();
    return this.withRetries(`Checking ${cid} on ${this.opts.gatewayUrl}`, async () => {
      const res = await gatewayRequest(url, this.opts.gatewayUrl, { method: "HEAD", dispatcher, headersTimeout: this.opts.timeoutMs });
      await res.body.dump();
      if (res.statusCode >= 500 || res.statusCode === 429 || res.statusCode === 408) throw new Transient(`HTTP ${res.statusCode}`);
      return res.statusCode === 200;
    });
  }
}

async function gatewayRequest(url: string, gatewayUrl: string, options: Parameters<typeof import("undici").request>[1]) {
  const { request } = await import("undici");
  try {
    return await request(url, options);
  } catch (error) {
    // undici's redirect handler refuses a loop before reaching its bound.
    if ((error as { code?: string }).code === "UND_ERR_INVALID_ARG" && /redirect/i.test((error as Error).message)) {
      throw new NetworkError(`The gateway ${gatewayUrl} redirects in a loop (${(error as Error).message}).`, { code: "GATEWAY_REDIRECT_LOOP", cause: error, hint: "Check store.lighthouse.gatewayUrl." });
    }
    throw error;
  }
}

/** The service's own words from an error body: `{"error": "…"}` (the SDK's shape), `{"message"}`, or short text. */
export function serviceMessage(body: string): string {
  const trimmed = body.trim();
  try {
    const parsed = JSON.parse(trimmed) as Record<string, unknown>;
    for (const key of ["error", "message", "details", "Message"]) {
      const v = parsed[key];
      if (typeof v === "string" && v) return clip(v);
      if (v && typeof v === "object" && typeof (v as { message?: unknown }).message === "string") return clip((v as { message: string }).message);
    }
  } catch {
    // not JSON: fall through to the text itself
  }
  // An HTML error page says nothing useful beyond its status.
  if (!trimmed || trimmed.startsWith("<")) return "";
  return clip(trimmed);
}

function clip(text: string): string {
  const oneLine = text.replace(/\s+/g, " ").trim();
  return oneLine.length > 300 ? `${oneLine.slice(0, 300)}…` : oneLine;
}

function quoted(status: number, message: string): string {
  return message ? `HTTP ${status}: ${message}` : `HTTP ${status}`;
}

function retryAfterMs(header: string | string[] | null | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function classifyUploadFailure(status: number, message: string, retryAfter: string | null, uploadUrl: string): Error {
  const said = quoted(status, message);
  const data = { status, serviceMessage: message };
  if (status === 401 || status === 403) {
    return new DeniedError(`Lighthouse refused the upload (${said}).`, { code: "LIGHTHOUSE_DENIED", data, hint: "Check your Lighthouse API key (DAT_LIGHTHOUSE_API_KEY or store.lighthouse.apiKey)." });
  }
  if (status === 402) {
    return new UserError(`Lighthouse refused the upload: the account's storage quota or balance is exhausted (${said}).`, { code: "LIGHTHOUSE_QUOTA", data, hint: "Free space or upgrade the Lighthouse plan of this API key, then retry." });
  }
  if (status === 413) {
    return new UserError(`Lighthouse refused the upload as too large (${said}).`, { code: "LIGHTHOUSE_TOO_LARGE", data, hint: "The blob exceeds the size this Lighthouse account accepts per file." });
  }
  if (status === 408 || status === 429 || status >= 500) return new Transient(said, retryAfterMs(retryAfter));
  if (status >= 300 && status < 400) {
    return new NetworkError(`Lighthouse answered the upload with a redirect (${said}); dat does not send the API key to another address.`, { code: "LIGHTHOUSE_REDIRECT", data, hint: `Set store.lighthouse.uploadUrl to the final upload address instead of ${uploadUrl}.` });
  }
  return new NetworkError(`Lighthouse rejected the upload (${said}).`, { code: "LIGHTHOUSE_REJECTED", data, hint: `Check store.lighthouse.uploadUrl (${uploadUrl}) is a Lighthouse upload endpoint.` });
}

function classifyGatewayFailure(status: number, body: string, cid: string, gatewayUrl: string, retryAfter: string | string[] | undefined): Error {
  const said = quoted(status, serviceMessage(body));
  if (status === 404 || status === 410) {
    return new NotFoundError(`Blob ${cid} was not found on the gateway ${gatewayUrl} (${said}).`, { code: "BLOB_NOT_FOUND", hint: "It may not be pinned yet; retry later or check the CID." });
  }
  if (status === 408 || status === 429 || status >= 500) return new Transient(said, retryAfterMs(retryAfter));
  if (status >= 300 && status < 400) {
    return new NetworkError(`The gateway ${gatewayUrl} redirected ${cid} too many times (${said}).`, { code: "GATEWAY_REDIRECT_LOOP", hint: "Check store.lighthouse.gatewayUrl." });
  }
  return new NetworkError(`The gateway ${gatewayUrl} answered ${said} for ${cid}.`, { code: "GATEWAY_BAD_STATUS", hint: "Check store.lighthouse.gatewayUrl." });
}

async function readSmall(body: AsyncIterable<unknown> & { destroy(): unknown }): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      total += (chunk as Buffer).length;
      if (total > 16_384) break;
    }
  } catch {
    // the status alone will do
  } finally {
    discard(body);
  }
  return Buffer.concat(chunks).toString("utf8");
}

async function readBounded(body: AsyncIterable<unknown> & { destroy(): unknown }, cid: string, maxBytes: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    // Stop reading as soon as the gateway sends more than we accept, whatever it declared.
    if (total > maxBytes) {
      discard(body);
      throw tooLarge(cid, maxBytes);
    }
    chunks.push(chunk as Buffer);
  }
  const buf = Buffer.concat(chunks, total);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Drops the rest of a response; destroying an undici body emits an error nobody else listens for. */
function discard(body: { destroy(): unknown; on?: unknown; destroyed?: boolean }): void {
  const stream = body as unknown as import("node:stream").Readable;
  if (stream.destroyed) return;
  stream.on("error", () => undefined);
  stream.destroy();
}

function isTimeout(error: unknown): boolean {
  for (let e = error as { name?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.name === "TimeoutError") return true;
  }
  return false;
}

function uploadTimeout(uploadUrl: string, timeoutMs: number, cause: unknown): NetworkError {
  return new NetworkError(`Uploading to ${uploadUrl} took longer than ${timeoutMs} ms and was abandoned.`, {
    code: "LIGHTHOUSE_TIMEOUT",
    cause,
    hint: "Retry on a faster connection, or raise the store's timeout.",
  });
}

function tooLarge(cid: string, max: number): MalformedInputError {
  return new MalformedInputError(`Blob ${cid} is larger than the ${max}-byte limit.`, { code: "BLOB_TOO_LARGE", data: { cid, maxBytes: max } });
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const base = error.message.replace(/^(Error: )+/, "");
    return cause?.code ? `${base} (${cause.code})` : base;
  }
  return String(error);
}

function redact(text: string, secret: string): string {
  return secret ? text.split(secret).join("<api key>") : text;
}
