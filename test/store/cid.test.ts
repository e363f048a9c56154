import { createHash } from "node:crypto";
import { importer } from "ipfs-unixfs-importer";
import { fixedSize } from "ipfs-unixfs-importer/chunker";
import { balanced } from "ipfs-unixfs-importer/layout";
import { CID } from "multiformats/cid";
import * as Digest from "multiformats/hashes/digest";
import { describe, expect, it } from "vitest";
import { bytesMatchCid, cidForBytes, parseCid } from "../../src/store/cid.js";

/** The reference: the UnixFS importer with kubo's `ipfs add --cid-version=1` parameters, no shortcut. */
async function importerCidV1(bytes: Uint8Array): Promise<string> {
  let last: CID | undefined;
  for await (const entry of importer([{ content: bytes }], { put: async (key: CID) => key }, {
    cidVersion: 1, rawLeaves: true, reduceSingleLeafToSelf: true, wrapWithDirectory: false,
    chunker: fixedSize({ chunkSize: 262_144 }), layout: balanced({ maxChildrenPerNode: 174 }),
  })) last = entry.cid;
  return last!.toString();
}

function bytes(n: number, seed: number): Uint8Array {
  return new Uint8Array(n).map((_, i) => (i * 131 + seed) & 0xff);
}

describe("IPFS CIDs", () => {
  it("match the CIDs kubo's `ipfs add` gives well-known files (v0 and v1)", async () => {
    const hello = new TextEncoder().encode("hello world\n");

    // `echo "hello world" | ipfs add` and `… | ipfs add --cid-version=1`
    expect(await cidForBytes(hello, 0)).toBe("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
    expect(await cidForBytes(hello)).toBe("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4");
    // The empty file.
    expect(await cidForBytes(new Uint8Array(0), 0)).toBe("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
  });

  it("gives a dag-pb root for multi-chunk files and verifies either version", async () => {
    const big = new Uint8Array(600_000).map((_, i) => i % 251);

    const v1 = await cidForBytes(big);
    const v0 = await cidForBytes(big, 0);

    expect(v1.startsWith("bafybei")).toBe(true);
    expect(v0.startsWith("Qm")).toBe(true);
    expect(await bytesMatchCid(big, v1)).toBe(true);
    expect(await bytesMatchCid(big, v0)).toBe(true);
    big[1] ^= 1;
    expect(await bytesMatchCid(big, v1)).toBe(false);
  });

  it("computes and checks single-chunk CIDs directly, with the importer's answers on both sides of the boundary", async () => {
    for (const size of [0, 1, 1060, 262_143, 262_144, 262_145, 600_000]) {
      const data = bytes(size, size);
      const other = bytes(size, size + 1);
      const cid = await cidForBytes(data);
      const cidV0 = await cidForBytes(data, 0);

      expect(cid, `size ${size}`).toBe(await importerCidV1(data));
      expect(await bytesMatchCid(data, cid)).toBe(true);
      expect(await bytesMatchCid(data, cidV0)).toBe(true);
      expect(await bytesMatchCid(other, cid)).toBe(size === 0);
      expect(await bytesMatchCid(other, cidV0)).toBe(size === 0);
    }
    // IPFS gives more than one chunk a dag-pb root, never a raw-leaf CID of all the bytes.
    const big = bytes(262_145, 1);
    const rawOfBig = CID.createV1(0x55, Digest.create(0x12, createHash("sha256").update(big).digest())).toString();
    expect(await bytesMatchCid(big, rawOfBig)).toBe(false);
  });

  it("rejects strings that are not CIDs", () => {
    for (const bad of ["", "hello", "Qm123", "bafy!!"]) expect(() => parseCid(bad)).toThrow(expect.objectContaining({ code: "CID_INVALID" }));
  });
});
