/**
 * The read-through store contributors read reward trees with: blobs the home lacks come from a
 * peer (here a fetcher function; no server), are checked against their CID, and only then kept.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readThroughStore } from "../../src/store/readThrough.js";
import { openLocalStore, type LocalBlobStore } from "../../src/store/local.js";
import { cidForBytes } from "../../src/store/cid.js";
import { MalformedInputError, NotFoundError } from "../../src/core/errors.js";

let home: string;
let local: LocalBlobStore;

/** A peer holding `blobs` by CID, recording what was asked of it. */
function peer(blobs: Map<string, Uint8Array>, served?: (cid: string) => Uint8Array) {
  const asked: string[] = [];
  const fetcher = async (cid: string) => {
    asked.push(cid);
    if (served) return served(cid);
    const bytes = blobs.get(cid);
    if (!bytes) throw new NotFoundError(`no blob ${cid}`, { code: "BLOB_NOT_FOUND" });
    return bytes;
  };
  return { fetcher, asked };
}

beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), "dat-readthrough-"));
  local = openLocalStore(home);
});

afterEach(() => {
  fs.rmSync(home, { recursive: true, force: true });
});

describe("readThroughStore", () => {
  it("fetches a missing blob from the peer, verifies it, caches it, and reads it locally next time", async () => {
    // Prepare
    const tree = new TextEncoder().encode(JSON.stringify({ format: "reward-tree", values: [1, 2, 3] }));
    const cid = await cidForBytes(tree);
    const { fetcher, asked } = peer(new Map([[cid, tree]]));
    const store = readThroughStore(local, fetcher);

    // Execute
    const first = await store.get(cid);
    const second = await store.get(cid);

    // Assert
    expect(Buffer.from(first).equals(Buffer.from(tree))).toBe(true);
    expect(Buffer.from(second).equals(Buffer.from(tree))).toBe(true);
    expect(asked).toEqual([cid]);
    expect(await local.has(cid)).toBe(true);
  });

  it("answers from the home's store without asking the peer", async () => {
    const bytes = new TextEncoder().encode("already here");
    const cid = await local.put(bytes);
    const { fetcher, asked } = peer(new Map());
    const store = readThroughStore(local, fetcher);

    expect(Buffer.from(await store.get(cid)).toString()).toBe("already here");
    expect(await store.has(cid)).toBe(true);
    expect(asked).toEqual([]);
  });

  it("rejects wrong bytes from the peer with BLOB_CID_MISMATCH and keeps nothing", async () => {
    // Prepare: the peer answers every CID with other bytes (a tampered tree).
    const genuine = new TextEncoder().encode("the real tree");
    const cid = await cidForBytes(genuine);
    const forged = new TextEncoder().encode("the real tree, but richer");
    const forgedCid = await cidForBytes(forged);
    const store = readThroughStore(local, peer(new Map(), () => forged).fetcher);

    // Execute
    const error = await store.get(cid).catch((e: unknown) => e);

    // Assert
    expect(error).toBeInstanceOf(MalformedInputError);
    expect((error as MalformedInputError).code).toBe("BLOB_CID_MISMATCH");
    expect(await local.has(cid)).toBe(false);
    expect(await local.has(forgedCid)).toBe(false);
  });

  it("rejects empty and truncated answers", async () => {
    const genuine = new Uint8Array(4096).fill(7);
    const cid = await cidForBytes(genuine);
    for (const answer of [new Uint8Array(0), genuine.subarray(0, 4095)]) {
      const store = readThroughStore(local, peer(new Map(), () => answer).fetcher);
      await expect(store.get(cid)).rejects.toMatchObject({ code: "BLOB_CID_MISMATCH" });
    }
    expect(await local.has(cid)).toBe(false);
  });

  it("passes the peer's not-found through, and reports has() false for a blob nobody holds", async () => {
    const cid = await cidForBytes(new TextEncoder().encode("nobody has this"));
    const store = readThroughStore(local, peer(new Map()).fetcher);

    await expect(store.get(cid)).rejects.toBeInstanceOf(NotFoundError);
    expect(await store.has(cid)).toBe(false);
  });

  it("refuses a malformed CID before trusting any bytes", async () => {
    const store = readThroughStore(local, peer(new Map(), () => new Uint8Array([1, 2, 3])).fetcher);
    await expect(store.get("not-a-cid")).rejects.toBeInstanceOf(MalformedInputError);
  });

  it("writes through put() to the home's store", async () => {
    const { fetcher, asked } = peer(new Map());
    const store = readThroughStore(local, fetcher);
    const cid = await store.put(new TextEncoder().encode("mine"));
    expect(await local.has(cid)).toBe(true);
    expect(asked).toEqual([]);
  });
});
