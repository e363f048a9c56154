/**
 * The Lighthouse store against a local double (fakeLighthouse.ts) whose CIDs and CARs come from
 * ipfs-unixfs-importer and @ipld/car directly, never from dat's cid.ts: content chunked unlike dat,
 * damaged CARs, the service's error bodies, stalls, redirects and two API keys in one process.
 */
import { afterEach, describe, expect, it } from "vitest";
import { DeniedError, MalformedInputError, NetworkError, NotFoundError, UserError } from "../../src/core/errors.js";
import { bytesMatchCid, cidForBytes } from "../../src/store/cid.js";
import { openStore } from "../../src/store/index.js";
import { LighthouseBlobStore, type LighthouseStoreOptions } from "../../src/store/lighthouse.js";
import { startFakeLighthouse, type FakeLighthouse } from "./fakeLighthouse.js";

const API_KEY = "test-key-0123456789";

const running: FakeLighthouse[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((f) => f.close()));
});

async function fakeService(keys: string[] = [API_KEY]): Promise<FakeLighthouse> {
  const fake = await startFakeLighthouse(keys);
  running.push(fake);
  return fake;
}

async function setup(options: Partial<LighthouseStoreOptions> = {}) {
  const fake = await fakeService();
  const store = new LighthouseBlobStore({ uploadUrl: fake.url, gatewayUrl: fake.url, apiKey: API_KEY, backoffMs: 5, attempts: 4, ...options });
  return { fake, store };
}

function payload(n: number, seed = 3): Uint8Array {
  // Pseudo-random so that rabin finds boundaries and no two chunks are equal.
  let x = seed * 2654435761;
  return new Uint8Array(n).map(() => ((x = (x * 1103515245 + 12345) >>> 0) >>> 16) & 0xff);
}

const gets = (fake: FakeLighthouse) => fake.requests.filter((r) => r.method === "GET");
const posts = (fake: FakeLighthouse) => fake.requests.filter((r) => r.method === "POST");

describe("Lighthouse store: uploads", () => {
  it("uploads with the Bearer key and reads the blob back verified under dat's CID", async () => {
    const { fake, store } = await setup();
    const data = payload(700_000);

    const cid = await store.put(data);

    expect(cid).toBe(await cidForBytes(data));
    expect(posts(fake)[0]).toMatchObject({ url: "/api/v0/add?cid-version=1", auth: `Bearer ${API_KEY}` });
    expect(await store.has(cid)).toBe(true);
    expect(Buffer.from(await store.get(cid)).equals(Buffer.from(data))).toBe(true);
    expect(gets(fake).at(-1)?.url).toBe(`/ipfs/${cid}?format=car`);
  });

  it("takes the API key from DAT_LIGHTHOUSE_API_KEY via openStore and never puts it in errors", async () => {
    const fake = await fakeService();
    const config = { store: { kind: "lighthouse" as const, lighthouse: { uploadUrl: fake.url, gatewayUrl: fake.url } } };
    const ok = await openStore("/nonexistent", config, { env: { DAT_LIGHTHOUSE_API_KEY: API_KEY } });
    expect(await ok.put(payload(10))).toBe(await cidForBytes(payload(10)));

    const wrong = await openStore("/nonexistent", config, { env: { DAT_LIGHTHOUSE_API_KEY: "wrong-secret-key" } });
    const error = await wrong.put(payload(10)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeniedError);
    expect((error as Error).message).toContain("Authentication failed: invalid API key");
    expect(JSON.stringify({ m: (error as Error).message, h: (error as DeniedError).hint, d: (error as DeniedError).data })).not.toContain("wrong-secret-key");

    const none = await openStore("/nonexistent", config, { env: {} });
    await expect(none.put(payload(10))).rejects.toMatchObject({ code: "LIGHTHOUSE_NO_API_KEY" });
  });

  it.each([
    [401, { error: "Authentication failed: API key revoked" }, DeniedError, "LIGHTHOUSE_DENIED"],
    [403, { error: "Forbidden" }, DeniedError, "LIGHTHOUSE_DENIED"],
    [402, { error: "Storage limit exceeded for this plan" }, UserError, "LIGHTHOUSE_QUOTA"],
    [413, { error: "File size exceeds the 24 GB limit" }, UserError, "LIGHTHOUSE_TOO_LARGE"],
    [400, { error: "cid-version must be 0 or 1" }, NetworkError, "LIGHTHOUSE_REJECTED"],
  ] as const)("does not retry HTTP %i and shows the service's message", async (status, body, type, code) => {
    const { fake, store } = await setup();
    fake.uploadScript.push({ status, body });

    const error = await store.put(payload(100)).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(type);
    expect(error).toMatchObject({ code });
    expect((error as Error).message).toContain(body.error);
    expect((error as Error).message).toContain(`HTTP ${status}`);
    expect(posts(fake)).toHaveLength(1);
  });

  it("retries 503, 429 and a reset connection, then succeeds", async () => {
    const { fake, store } = await setup();
    fake.uploadScript.push({ status: 503, body: { error: "upstream unavailable" } }, { status: 429, body: { error: "slow down" }, headers: { "retry-after": "0" } }, { status: 0, body: "" });

    const cid = await store.put(payload(1000));

    expect(cid).toBe(await cidForBytes(payload(1000)));
    expect(posts(fake)).toHaveLength(4);
  });

  it("gives up after the last attempt with the service's last message", async () => {
    const { fake, store } = await setup({ attempts: 3 });
    for (let i = 0; i < 3; i++) fake.uploadScript.push({ status: 502, body: { error: "bad gateway upstream" } });

    const error = await store.put(payload(100)).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(NetworkError);
    expect(error).toMatchObject({ code: "STORE_UNREACHABLE" });
    expect((error as Error).message).toContain("bad gateway upstream");
    expect(posts(fake)).toHaveLength(3);
  });

  it("abandons an upload the service never answers, after the store's timeout, without retrying", async () => {
    const { fake, store } = await setup({ timeoutMs: 300 });
    fake.stallUploads = true;

    const error = await store.put(payload(5000)).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(NetworkError);
    expect(error).toMatchObject({ code: "LIGHTHOUSE_TIMEOUT" });
    expect(posts(fake)).toHaveLength(1);
  });

  it("refuses a CID the service answers that differs from the bytes' CID", async () => {
    const { fake, store } = await setup();
    fake.uploadScript.push({ status: 200, body: { Name: "blob", Hash: await cidForBytes(payload(9)), Size: "100" } });

    await expect(store.put(payload(100))).rejects.toMatchObject({ code: "LIGHTHOUSE_CID_MISMATCH" });
  });

  it("keeps two stores with different keys and hosts in one process apart", async () => {
    const [a, b] = [await fakeService(["key-of-store-a-000"]), await fakeService(["key-of-store-b-111"])];
    const storeA = new LighthouseBlobStore({ uploadUrl: a.url, gatewayUrl: a.url, apiKey: "key-of-store-a-000" });
    const storeB = new LighthouseBlobStore({ uploadUrl: b.url, gatewayUrl: b.url, apiKey: "key-of-store-b-111" });

    // Interleaved uploads: with one process-wide upload host, one of them would reach the wrong service.
    await Promise.all([storeA.put(payload(2000, 1)), storeB.put(payload(2000, 2)), storeA.put(payload(3000, 3)), storeB.put(payload(3000, 4))]);

    expect(posts(a).map((r) => r.auth)).toEqual(["Bearer key-of-store-a-000", "Bearer key-of-store-a-000"]);
    expect(posts(b).map((r) => r.auth)).toEqual(["Bearer key-of-store-b-111", "Bearer key-of-store-b-111"]);
    const crossed = new LighthouseBlobStore({ uploadUrl: b.url, gatewayUrl: b.url, apiKey: "key-of-store-a-000" });
    await expect(crossed.put(payload(10))).rejects.toBeInstanceOf(DeniedError);
  });
});

describe("Lighthouse store: gateway reads verified as CARs", () => {
  it.each([
    ["kubo 1 MiB chunks, CIDv1 raw leaves", 2_500_000, { chunking: "1MiB", cidVersion: 1 }],
    ["1 KiB chunks, CIDv0 (dag-pb leaves, balanced)", 300_000, { chunking: "1KiB", cidVersion: 0 }],
    ["rabin chunks, CIDv1, trickle DAG", 200_000, { chunking: "rabin", cidVersion: 1, layout: "trickle" }],
    ["1 KiB chunks, CIDv1, several levels", 400_000, { chunking: "1KiB", cidVersion: 1 }],
    ["one dag-pb node, CIDv0", 1000, { cidVersion: 0 }],
  ] as const)("verifies a file made with %s", async (_label, size, options) => {
    const { fake, store } = await setup();
    const data = payload(size);
    const cid = await fake.add(data, options);

    const got = await store.get(cid);

    expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
    expect(gets(fake)[0]).toMatchObject({ url: `/ipfs/${cid}?format=car` });
  });

  it("would not verify such a file by recomputing with dat's own chunking (why the CAR is needed)", async () => {
    const { fake } = await setup();
    const data = payload(2_500_000);
    const cid = await fake.add(data, { chunking: "1MiB" });

    expect(await bytesMatchCid(data, cid)).toBe(false);
  });

  it.each([
    ["wrong-block", "CAR_BLOCK_MISMATCH", /Block \S+ in the CAR for \S+ does not hash to its CID/],
    ["missing-block", "CAR_MISSING_BLOCK", /lacks block/],
    ["truncated", "CAR_INVALID", /not a valid CAR or was cut short/],
    ["wrong-root", "CAR_WRONG_ROOT", /has root/],
    ["extra-root", "CAR_WRONG_ROOT", /has roots/],
  ] as const)("refuses a CAR with a %s, naming the CID, without retrying", async (fault, code, message) => {
    const { fake, store } = await setup();
    const cid = await fake.add(payload(600_000), { chunking: "1KiB", cidVersion: 1 });
    fake.carFault = fault;

    const error = await store.get(cid).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MalformedInputError);
    expect(error).toMatchObject({ code, data: { cid } });
    expect((error as Error).message).toContain(cid);
    expect((error as Error).message).toMatch(message);
    expect(gets(fake)).toHaveLength(1);
  });

  it("stops reading a CAR beyond the caller's expected size", async () => {
    const { fake, store } = await setup();
    const cid = await fake.add(payload(3_000_000), { chunking: "1MiB" });

    await expect(store.get(cid, { maxBytes: 100_000 })).rejects.toMatchObject({ code: "BLOB_TOO_LARGE" });
    expect((await store.get(cid, { maxBytes: 3_000_000 })).length).toBe(3_000_000);
  });

  it("checks plain bytes by recomputing when the gateway does not serve CARs", async () => {
    const { fake, store } = await setup();
    fake.carFault = "no-car";
    const datLayout = payload(600_000, 7);
    const otherLayout = payload(600_000, 8);
    const ok = await fake.add(datLayout); // kubo defaults: what dat uploads
    const other = await fake.add(otherLayout, { chunking: "1KiB" });

    expect(Buffer.from(await store.get(ok)).equals(Buffer.from(datLayout))).toBe(true);
    const error = await store.get(other).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "BLOB_CID_MISMATCH" });
    expect((error as MalformedInputError).hint).toContain("?format=car");
  });

  it("reads a raw-leaf CID as plain bytes and refuses other bytes under it", async () => {
    const { fake, store } = await setup();
    const data = payload(5000);
    const cid = await fake.add(data);
    expect(cid.startsWith("bafkrei")).toBe(true);

    expect(Buffer.from(await store.get(cid)).equals(Buffer.from(data))).toBe(true);
    expect(gets(fake)[0].url).toBe(`/ipfs/${cid}`);

    fake.gatewayScript.push({ status: 200, body: "not the blob", headers: { "content-type": "application/octet-stream" } });
    const error = await store.get(cid).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "BLOB_CID_MISMATCH" });
    expect((error as Error).message).toContain(cid);
  });

  it("retries a reset and 503s from the gateway, then gives up with a NetworkError", async () => {
    const { fake, store } = await setup();
    const cid = await fake.add(payload(300_000), { chunking: "1KiB" });
    fake.gatewayScript.push({ status: 0, body: "" }, { status: 503, body: { error: "gateway overloaded" } });
    expect((await store.get(cid)).length).toBe(300_000);

    for (let i = 0; i < 4; i++) fake.gatewayScript.push({ status: 503, body: { error: "gateway overloaded" } });
    const error = await store.get(cid).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as Error).message).toContain("gateway overloaded");
  });

  it("follows a redirect to another gateway and still verifies what it serves", async () => {
    const [front, back] = [await fakeService(), await fakeService()];
    const data = payload(500_000);
    const cid = await back.add(data, { chunking: "1KiB", cidVersion: 0 });
    front.redirectTo = back.url;
    const store = new LighthouseBlobStore({ uploadUrl: front.url, gatewayUrl: front.url, apiKey: API_KEY, backoffMs: 5 });

    expect(Buffer.from(await store.get(cid)).equals(Buffer.from(data))).toBe(true);
    expect(gets(back)[0].url).toBe(`/ipfs/${cid}?format=car&hop=1`);

    back.carFault = "wrong-block";
    await expect(store.get(cid)).rejects.toMatchObject({ code: "CAR_BLOCK_MISMATCH" });
  });

  it("stops after a bounded number of redirects", async () => {
    const fake = await fakeService();
    const cid = await fake.add(payload(300_000));
    fake.redirectTo = fake.url; // redirects to itself forever, a new URL each time
    const store = new LighthouseBlobStore({ uploadUrl: fake.url, gatewayUrl: fake.url, maxRedirects: 3 });

    await expect(store.get(cid)).rejects.toMatchObject({ code: "GATEWAY_REDIRECT_LOOP" });
    expect(gets(fake)).toHaveLength(4);
  });

  it("answers NotFound for an unknown CID, refuses a blob above maxBytes, rejects malformed and non-sha256 CIDs", async () => {
    const { store, fake } = await setup();
    const absent = await cidForBytes(payload(5));
    await expect(store.get(absent)).rejects.toBeInstanceOf(NotFoundError);
    expect(await store.has(absent)).toBe(false);
    const cid = await fake.add(payload(5000));
    const small = new LighthouseBlobStore({ uploadUrl: fake.url, gatewayUrl: fake.url, maxBytes: 1000 });
    await expect(small.get(cid)).rejects.toMatchObject({ code: "BLOB_TOO_LARGE" });
    await expect(store.get("../../etc/passwd")).rejects.toMatchObject({ code: "CID_INVALID" });
    // An identity-hash CID carries its "content" in itself: nothing a gateway could prove.
    await expect(store.get("bafkqaaa")).rejects.toMatchObject({ code: "CID_UNSUPPORTED_HASH" });
  });
});
