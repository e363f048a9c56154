import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { MalformedInputError, NotFoundError } from "../../src/core/errors.js";
import { cidForBytes } from "../../src/store/cid.js";
import { openStore } from "../../src/store/index.js";
import { LocalBlobStore } from "../../src/store/local.js";

function tmpHome(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "dat-store-"));
}

function bytes(n: number, seed = 1): Uint8Array {
  return new Uint8Array(n).map((_, i) => (i * 131 + seed) & 0xff);
}

describe("local blob store", () => {
  it("puts and gets content-addressed blobs with the same CID IPFS gives", async () => {
    const store = await openStore(tmpHome(), { store: { kind: "local", lighthouse: { uploadUrl: "http://x", gatewayUrl: "http://x" } } });
    const data = bytes(300_000);

    const cid = await store.put(data);

    expect(cid).toBe(await cidForBytes(data));
    expect(await store.put(data)).toBe(cid);
    expect(await store.has(cid)).toBe(true);
    expect(Buffer.from(await store.get(cid)).equals(Buffer.from(data))).toBe(true);
  });

  it("puts again into a shard folder removed after the store made it", async () => {
    const home = tmpHome();
    const store = new LocalBlobStore(home);
    const data = bytes(1000, 7);
    const cid = await store.put(data);
    fs.rmSync(path.dirname(store.pathOf(cid)), { recursive: true });
    expect(await store.has(cid)).toBe(false);

    expect(await store.put(data)).toBe(cid);
    expect(Buffer.from(await store.get(cid)).equals(Buffer.from(data))).toBe(true);
    expect(fs.readdirSync(path.dirname(store.pathOf(cid)))).toEqual([cid]);
  });

  it("answers NotFound for an absent blob and rejects a malformed CID", async () => {
    const store = new LocalBlobStore(tmpHome());
    const cid = await cidForBytes(bytes(10));

    expect(await store.has(cid)).toBe(false);
    await expect(store.get(cid)).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.get("not-a-cid")).rejects.toMatchObject({ code: "CID_INVALID" });
  });

  it("detects a corrupted blob on read, naming the CID, and put repairs a truncated one", async () => {
    const store = new LocalBlobStore(tmpHome());
    const data = bytes(1000);
    const cid = await store.put(data);
    const file = store.pathOf(cid);
    const damaged = Buffer.from(data);
    damaged[500] ^= 0xff;
    fs.writeFileSync(file, damaged);

    const error = await store.get(cid).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MalformedInputError);
    expect((error as MalformedInputError).code).toBe("BLOB_CORRUPT");
    expect((error as Error).message).toContain(cid);
    fs.writeFileSync(file, damaged.subarray(0, 10));
    await store.put(data);
    expect(Buffer.from(await store.get(cid)).equals(Buffer.from(data))).toBe(true);
  });

  it("leaves no temporary files and is safe with several writer processes", async () => {
    const home = tmpHome();
    const script = path.join(home, "writer.mts");
    const storeModule = path.resolve("src/store/local.ts");
    fs.writeFileSync(
      script,
      `import { LocalBlobStore } from ${JSON.stringify(storeModule)};
const store = new LocalBlobStore(${JSON.stringify(home)});
for (let i = 0; i < 20; i++) {
  const data = new Uint8Array(50_000 + (i % 5)).map((_, j) => (j * 7 + i % 5) & 0xff);
  await store.put(data);
}
`,
    );
    const tsx = path.resolve("node_modules/.bin/tsx");
    const run = () =>
      new Promise<number>((resolve, reject) => {
        const child = spawn(tsx, [script], { stdio: "inherit" });
        child.on("error", reject);
        child.on("exit", (code) => resolve(code ?? -1));
      });

    const codes = await Promise.all([run(), run(), run()]);

    expect(codes).toEqual([0, 0, 0]);
    const store = new LocalBlobStore(home);
    for (let k = 0; k < 5; k++) {
      const data = new Uint8Array(50_000 + k).map((_, j) => (j * 7 + k) & 0xff);
      const cid = await cidForBytes(data);
      expect(Buffer.from(await store.get(cid)).equals(Buffer.from(data))).toBe(true);
    }
    const files = fs.readdirSync(path.join(home, "blobs"), { recursive: true }).map(String);
    expect(files.filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });
});
