import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { DeniedError, MalformedInputError, NetworkError, NotFoundError } from "../../src/core/errors.js";
import { cidForBytes } from "../../src/store/cid.js";
import { openStore } from "../../src/store/index.js";
import { LighthouseBlobStore } from "../../src/store/lighthouse.js";

const API_KEY = "test-key-0123456789";

interface FakeLighthouse {
  url: string;
  blobs: Map<string, Uint8Array>;
  /** Gateway behaviour: serve, corrupt bytes, or fail the next N requests (reset / 503). */
  gateway: { mode: "ok" | "wrong-bytes"; failNext: number; failWith: "reset" | 503 };
  uploadFailNext: number;
  requests: { method: string; url: string; auth?: string }[];
  close(): Promise<void>;
}

/**
 * A local server that answers like Lighthouse: POST /api/v0/add (multipart "file", Bearer key,
 * {Name, Hash, Size}) and GET/HEAD /ipfs/<cid> like its gateway. The real service cannot be
 * reached from CI.
 */
async function startFakeLighthouse(): Promise<FakeLighthouse> {
  const fake: Omit<FakeLighthouse, "url" | "close"> = {
    blobs: new Map(),
    gateway: { mode: "ok", failNext: 0, failWith: "reset" },
    uploadFailNext: 0,
    requests: [],
  };
  const server = http.createServer(async (req, res) => {
    fake.requests.push({ method: req.method ?? "", url: req.url ?? "", auth: req.headers.authorization });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? "/", "http://x");
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method === "POST" && url.pathname === "/api/v0/add") {
      if (req.headers.authorization !== `Bearer ${API_KEY}`) return json(401, { error: "Unauthorized: invalid API key" });
      if (fake.uploadFailNext > 0) {
        fake.uploadFailNext--;
        return json(503, { error: "service temporarily unavailable" });
      }
      const form = await new Response(Buffer.concat(chunks), { headers: { "content-type": req.headers["content-type"] ?? "" } }).formData();
      const file = form.get("file");
      if (!(file instanceof Blob)) return json(400, { error: "no file" });
      const bytes = new Uint8Array(await file.arrayBuffer());
      const cid = await cidForBytes(bytes, url.searchParams.get("cid-version") === "0" ? 0 : 1);
      fake.blobs.set(cid, bytes);
      return json(200, { Name: "blob", Hash: cid, Size: String(bytes.length) });
    }
    const m = /^\/ipfs\/([A-Za-z0-9]+)$/.exec(url.pathname);
    if ((req.method === "GET" || req.method === "HEAD") && m) {
      if (fake.gateway.failNext > 0) {
        fake.gateway.failNext--;
        if (fake.gateway.failWith === "reset") return req.socket.destroy();
        return json(503, { error: "gateway overloaded" });
      }
      const blob = fake.blobs.get(m[1]);
      if (!blob) return json(404, { error: "not found" });
      const body = Buffer.from(blob);
      if (fake.gateway.mode === "wrong-bytes") body[Math.floor(body.length / 2)] ^= 0x40;
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": body.length });
      return res.end(req.method === "HEAD" ? undefined : body);
    }
    json(404, { error: "no route" });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { ...fake, url, close: () => new Promise<void>((r) => server.close(() => r())) } as FakeLighthouse;
}

let current: FakeLighthouse | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

async function setup(apiKey: string | undefined = API_KEY) {
  current = await startFakeLighthouse();
  const store = new LighthouseBlobStore({ uploadUrl: current.url, gatewayUrl: current.url, apiKey, backoffMs: 5, attempts: 4 });
  return { fake: current, store };
}

function payload(n: number): Uint8Array {
  return new Uint8Array(n).map((_, i) => (i * 29 + 3) & 0xff);
}

describe("Lighthouse blob store against a Lighthouse-shaped local server", () => {
  it("uploads through the SDK and gets verified bytes back under the local store's CID", async () => {
    const { fake, store } = await setup();
    const data = payload(700_000);

    const cid = await store.put(data);

    expect(cid).toBe(await cidForBytes(data));
    expect(fake.requests[0]).toMatchObject({ method: "POST", url: "/api/v0/add?cid-version=1", auth: `Bearer ${API_KEY}` });
    expect(await store.has(cid)).toBe(true);
    expect(Buffer.from(await store.get(cid)).equals(Buffer.from(data))).toBe(true);
  });

  it("takes the API key from DAT_LIGHTHOUSE_API_KEY via openStore and never puts it in errors", async () => {
    current = await startFakeLighthouse();
    const config = { store: { kind: "lighthouse" as const, lighthouse: { uploadUrl: current.url, gatewayUrl: current.url } } };
    const ok = await openStore("/nonexistent", config, { env: { DAT_LIGHTHOUSE_API_KEY: API_KEY } });
    expect(await ok.put(payload(10))).toBe(await cidForBytes(payload(10)));

    const wrong = await openStore("/nonexistent", config, { env: { DAT_LIGHTHOUSE_API_KEY: "wrong-secret-key" } });
    const error = await wrong.put(payload(10)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeniedError);
    expect(JSON.stringify({ m: (error as Error).message, h: (error as DeniedError).hint })).not.toContain("wrong-secret-key");

    const none = await openStore("/nonexistent", config, { env: {} });
    await expect(none.put(payload(10))).rejects.toMatchObject({ code: "LIGHTHOUSE_NO_API_KEY" });
  });

  it("retries uploads and downloads that fail transiently", async () => {
    const { fake, store } = await setup();
    fake.uploadFailNext = 2;
    const cid = await store.put(payload(1000));
    fake.gateway.failNext = 2;
    fake.gateway.failWith = "reset";

    expect((await store.get(cid)).length).toBe(1000);
    fake.gateway.failNext = 3;
    fake.gateway.failWith = 503;
    expect((await store.get(cid)).length).toBe(1000);
  });

  it("gives up with a NetworkError after the last attempt", async () => {
    const { fake, store } = await setup();
    const cid = await store.put(payload(100));
    fake.gateway.failNext = 10;

    await expect(store.get(cid)).rejects.toBeInstanceOf(NetworkError);
  });

  it("rejects a gateway that returns wrong bytes, naming the CID", async () => {
    const { fake, store } = await setup();
    const cid = await store.put(payload(300_000));
    fake.gateway.mode = "wrong-bytes";

    const error = await store.get(cid).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MalformedInputError);
    expect((error as MalformedInputError).code).toBe("BLOB_CID_MISMATCH");
    expect((error as Error).message).toContain(cid);
  });

  it("answers NotFound for an unknown CID, refuses a blob above maxBytes, rejects malformed CIDs", async () => {
    const { store, fake } = await setup();
    const absent = await cidForBytes(payload(5));
    await expect(store.get(absent)).rejects.toBeInstanceOf(NotFoundError);
    expect(await store.has(absent)).toBe(false);
    const cid = await store.put(payload(5000));
    const small = new LighthouseBlobStore({ uploadUrl: fake.url, gatewayUrl: fake.url, maxBytes: 1000 });
    await expect(small.get(cid)).rejects.toMatchObject({ code: "BLOB_TOO_LARGE" });
    await expect(store.get("../../etc/passwd")).rejects.toMatchObject({ code: "CID_INVALID" });
  });
});
