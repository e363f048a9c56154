/**
 * Blob store on IPFS through Lighthouse.
 *
 * Upload: @lighthouse-web3/sdk's `uploadBuffer` (POST <uploadUrl>/api/v0/add?cid-version=1, a
 * multipart "file" field, `Authorization: Bearer <key>`, answer {Name, Hash, Size}). The SDK
 * reads its upload host from its exported, mutable `lighthouseConfig.lighthouseNode`; we point it
 * at `store.lighthouse.uploadUrl` before each call, which is how the tests aim it at a local
 * Lighthouse-shaped server. The returned CID must equal the one we compute (cid.ts), so a CID
 * means the same bytes in this store and in the local one.
 *
 * Download: GET <gatewayUrl>/ipfs/<cid> with undici, retried with exponential backoff on network
 * faults, 5xx and 429; every byte is checked against the CID before it is returned.
 *
 * The API key comes from `store.lighthouse.apiKey` (env DAT_LIGHTHOUSE_API_KEY); it is sent only
 * in the Authorization header and never appears in errors or logs.
 */
import { DeniedError, MalformedInputError, NetworkError, NotFoundError, UserError } from "../core/errors.js";
import type { BlobStore } from "./blobStore.js";
import { bytesMatchCid, canonicalCid, cidForBytes, parseCid } from "./cid.js";

export interface LighthouseStoreOptions {
  uploadUrl: string;
  gatewayUrl: string;
  apiKey?: string;
  /** Attempts per request, including the first; default 4. */
  attempts?: number;
  /** First backoff delay in ms, doubled after each failure (with jitter); default 250. */
  backoffMs?: number;
  /** Largest blob fetched from the gateway, in bytes; default 2 GiB. */
  maxBytes?: number;
  /** Per-request timeout in ms; default 60 s. */
  timeoutMs?: number;
}

const RETRYABLE_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "EAI_AGAIN", "ENOTFOUND", "UND_ERR_SOCKET", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CLOSED"]);

function isNetworkFault(error: unknown): boolean {
  for (let e = error as { code?: string; cause?: unknown; message?: string } | undefined; e; e = e.cause as typeof e) {
    if (e.code && RETRYABLE_CODES.has(e.code)) return true;
    if (typeof e.message === "string" && /fetch failed|socket|other side closed|terminated|ECONN|timeout/i.test(e.message)) return true;
  }
  return false;
}

class RetryableStatus extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}

export class LighthouseBlobStore implements BlobStore {
  private readonly opts: Required<Omit<LighthouseStoreOptions, "apiKey">> & { apiKey?: string };

  constructor(options: LighthouseStoreOptions) {
    this.opts = {
      attempts: 4,
      backoffMs: 250,
      maxBytes: 2 ** 31,
      timeoutMs: 60_000,
      ...options,
      uploadUrl: options.uploadUrl.replace(/\/+$/, ""),
      gatewayUrl: options.gatewayUrl.replace(/\/+$/, ""),
    };
  }

  private async withRetries<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let lastError: unknown;
    for (let attempt = 0; attempt < this.opts.attempts; attempt++) {
      if (attempt > 0) {
        const delay = this.opts.backoffMs * 2 ** (attempt - 1) * (0.75 + Math.random() * 0.5);
        await new Promise((r) => setTimeout(r, delay));
      }
      try {
        return await fn();
      } catch (error) {
        if (!(error instanceof RetryableStatus) && !isNetworkFault(error)) throw error;
        lastError = error;
      }
    }
    throw new NetworkError(`${what} failed after ${this.opts.attempts} attempts: ${describe(lastError)}.`, {
      code: "STORE_UNREACHABLE",
      cause: lastError,
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
    const sdk = await loadSdk();
    const answer = await this.withRetries(`Uploading to ${this.opts.uploadUrl}`, async () => {
      sdk.config.lighthouseNode = this.opts.uploadUrl;
      try {
        return await sdk.uploadBuffer(bytes, apiKey, { cidVersion: 1 });
      } catch (error) {
        // The SDK flattens HTTP failures into an Error whose message is the server's `error` text.
        const message = redact(describe(error), apiKey);
        if (/unauthori[sz]ed|forbidden|api key|invalid key|authenticat/i.test(message)) {
          throw new DeniedError(`Lighthouse refused the upload: ${message}.`, { code: "LIGHTHOUSE_DENIED", hint: "Check your Lighthouse API key (DAT_LIGHTHOUSE_API_KEY)." });
        }
        if (isNetworkFault(error)) throw error;
        // Anything else from the service (5xx, bad gateway pages) is worth another attempt: an
        // upload of content-addressed bytes is idempotent.
        throw new RetryableStatus(0);
      }
    });
    const got = (answer as { data?: { Hash?: unknown } } | undefined)?.data?.Hash;
    if (typeof got !== "string") {
      throw new NetworkError("Lighthouse answered the upload without a CID.", { code: "LIGHTHOUSE_BAD_ANSWER", hint: "Check store.lighthouse.uploadUrl points at a Lighthouse upload endpoint." });
    }
    if (canonicalCid(got) !== expected) {
      throw new MalformedInputError(`Lighthouse stored the blob as ${got}, but its bytes hash to ${expected}.`, {
        code: "LIGHTHOUSE_CID_MISMATCH",
        hint: "The upload endpoint chunks files differently from IPFS defaults or altered the bytes; do not use this CID.",
        data: { expected, got },
      });
    }
    return expected;
  }

  async get(cid: string): Promise<Uint8Array> {
    const parsed = parseCid(cid);
    const url = `${this.opts.gatewayUrl}/ipfs/${parsed.toString()}`;
    const bytes = await this.withRetries(`Fetching ${cid} from ${this.opts.gatewayUrl}`, async () => {
      const { request } = await import("undici");
      const res = await request(url, { method: "GET", headersTimeout: this.opts.timeoutMs, bodyTimeout: this.opts.timeoutMs });
      if (res.statusCode === 404) {
        await res.body.dump();
        throw new NotFoundError(`Blob ${cid} was not found on the gateway ${this.opts.gatewayUrl}.`, { code: "BLOB_NOT_FOUND", hint: "It may not be pinned yet; retry later or check the CID." });
      }
      if (res.statusCode >= 500 || res.statusCode === 429) {
        await res.body.dump();
        throw new RetryableStatus(res.statusCode);
      }
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw new NetworkError(`The gateway answered HTTP ${res.statusCode} for ${cid}.`, { code: "GATEWAY_BAD_STATUS", hint: "Check store.lighthouse.gatewayUrl." });
      }
      const declared = Number(res.headers["content-length"] ?? NaN);
      if (declared > this.opts.maxBytes) {
        await res.body.dump();
        throw tooLarge(cid, this.opts.maxBytes);
      }
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const chunk of res.body) {
        total += (chunk as Buffer).length;
        // Stop reading as soon as the gateway sends more than we accept, whatever it declared.
        if (total > this.opts.maxBytes) {
          res.body.destroy();
          throw tooLarge(cid, this.opts.maxBytes);
        }
        chunks.push(chunk as Buffer);
      }
      const buf = Buffer.concat(chunks, total);
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    });
    if (!(await bytesMatchCid(bytes, cid))) {
      throw new MalformedInputError(`The gateway returned bytes that do not match CID ${cid}.`, {
        code: "BLOB_CID_MISMATCH",
        hint: `The gateway ${this.opts.gatewayUrl} served wrong or damaged content; try another gateway (store.lighthouse.gatewayUrl).`,
        data: { cid, gateway: this.opts.gatewayUrl },
      });
    }
    return bytes;
  }

  async has(cid: string): Promise<boolean> {
    const url = `${this.opts.gatewayUrl}/ipfs/${parseCid(cid).toString()}`;
    return this.withRetries(`Checking ${cid} on ${this.opts.gatewayUrl}`, async () => {
      const { request } = await import("undici");
      const res = await request(url, { method: "HEAD", headersTimeout: this.opts.timeoutMs });
      await res.body.dump();
      if (res.statusCode >= 500 || res.statusCode === 429) throw new RetryableStatus(res.statusCode);
      return res.statusCode === 200;
    });
  }
}

function tooLarge(cid: string, max: number): MalformedInputError {
  return new MalformedInputError(`Blob ${cid} is larger than the ${max}-byte limit.`, { code: "BLOB_TOO_LARGE" });
}

function describe(error: unknown): string {
  if (error instanceof RetryableStatus) return error.status ? `HTTP ${error.status}` : "the service answered with an error";
  if (error instanceof Error) return error.message.replace(/^(Error: )+/, "");
  return String(error);
}

function redact(text: string, secret: string): string {
  return secret ? text.split(secret).join("<api key>") : text;
}

interface LighthouseSdk {
  uploadBuffer(buffer: Uint8Array, apiKey: string, options?: { cidVersion?: number }): Promise<unknown>;
  config: { lighthouseNode: string };
}

async function loadSdk(): Promise<LighthouseSdk> {
  // Heavy CommonJS module: loaded only when an upload happens.
  const [sdk, cfg] = await Promise.all([import("@lighthouse-web3/sdk"), import("@lighthouse-web3/sdk/dist/lighthouse.config.js")]);
  const mod = (sdk as { default?: { uploadBuffer?: LighthouseSdk["uploadBuffer"] } }).default ?? (sdk as unknown as { uploadBuffer: LighthouseSdk["uploadBuffer"] });
  const config = ((cfg as { default?: { lighthouseConfig?: unknown } }).default?.lighthouseConfig ?? (cfg as { lighthouseConfig?: unknown }).lighthouseConfig) as LighthouseSdk["config"] | undefined;
  if (!mod.uploadBuffer || !config) throw new Error("@lighthouse-web3/sdk does not expose uploadBuffer and lighthouseConfig as expected");
  return { uploadBuffer: mod.uploadBuffer, config };
}
