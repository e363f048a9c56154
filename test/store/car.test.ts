/**
 * verifyCarFile on hand-built DAGs (dag-pb + UnixFS encoded here with @ipld/dag-pb and
 * ipfs-unixfs, CARs with CarWriter): the forgeries a gateway could attempt that a normal importer
 * never produces.
 */
import { createHash } from "node:crypto";
import { CarWriter } from "@ipld/car/writer";
import * as dagPb from "@ipld/dag-pb";
import { UnixFS } from "ipfs-unixfs";
import { CID } from "multiformats/cid";
import * as Digest from "multiformats/hashes/digest";
import { describe, expect, it } from "vitest";
import { verifyCarFile } from "../../src/store/car.js";

const sha256 = (b: Uint8Array) => Digest.create(0x12, createHash("sha256").update(b).digest());
const sha512 = (b: Uint8Array) => Digest.create(0x13, createHash("sha512").update(b).digest());

function rawBlock(bytes: Uint8Array, hash: (b: Uint8Array) => Digest.Digest<number, number> = sha256) {
  return { cid: CID.createV1(0x55, hash(bytes)), bytes };
}

function fileNode(children: { cid: CID; size: number }[], type: "file" | "directory" = "file", declared?: number[]) {
  const unixfs = new UnixFS({ type, blockSizes: (declared ?? children.map((c) => c.size)).map(BigInt) });
  const bytes = dagPb.encode(dagPb.prepare({ Data: unixfs.marshal(), Links: children.map((c) => ({ Hash: c.cid, Tsize: c.size })) }));
  return { cid: CID.createV1(0x70, sha256(bytes)), bytes };
}

async function car(roots: CID[], blocks: { cid: CID; bytes: Uint8Array }[]): Promise<AsyncIterable<Uint8Array>> {
  const { writer, out } = CarWriter.create(roots);
  const parts: Uint8Array[] = [];
  const reading = (async () => {
    for await (const p of out) parts.push(p);
  })();
  for (const b of blocks) await writer.put(b);
  await writer.close();
  await reading;
  return (async function* () {
    yield* parts;
  })();
}

const options = { maxBytes: 1 << 20, source: "The test gateway" };

describe("verifyCarFile", () => {
  it("reassembles leaves in link order", async () => {
    const [a, b] = [rawBlock(new TextEncoder().encode("hello ")), rawBlock(new TextEncoder().encode("world"))];
    const root = fileNode([{ cid: a.cid, size: 6 }, { cid: b.cid, size: 5 }]);

    const bytes = await verifyCarFile(await car([root.cid], [root, b, a]), root.cid, options);

    expect(new TextDecoder().decode(bytes)).toBe("hello world");
  });

  it("refuses a block hashed with another function than sha2-256", async () => {
    const leaf = rawBlock(new TextEncoder().encode("data"), sha512);
    const root = fileNode([{ cid: leaf.cid, size: 4 }]);

    await expect(verifyCarFile(await car([root.cid], [root, leaf]), root.cid, options)).rejects.toMatchObject({ code: "CAR_UNSUPPORTED_HASH" });
  });

  it("refuses a directory where a file was asked for", async () => {
    const leaf = rawBlock(new TextEncoder().encode("data"));
    const root = fileNode([{ cid: leaf.cid, size: 4 }], "directory");

    await expect(verifyCarFile(await car([root.cid], [root, leaf]), root.cid, options)).rejects.toMatchObject({ code: "CAR_NOT_A_FILE" });
  });

  it("refuses a node whose declared size disagrees with its blocks", async () => {
    const leaf = rawBlock(new TextEncoder().encode("data"));
    const root = fileNode([{ cid: leaf.cid, size: 4 }], "file", [40]);

    await expect(verifyCarFile(await car([root.cid], [root, leaf]), root.cid, options)).rejects.toMatchObject({ code: "CAR_INVALID" });
  });

  it("bounds the output of a DAG that links one block many times", async () => {
    const leaf = rawBlock(new Uint8Array(1000).fill(1));
    const root = fileNode(Array.from({ length: 2000 }, () => ({ cid: leaf.cid, size: 1000 })));

    await expect(verifyCarFile(await car([root.cid], [root, leaf]), root.cid, options)).rejects.toMatchObject({ code: "BLOB_TOO_LARGE" });
  });

  it("refuses bytes that are not a CAR", async () => {
    const junk = (async function* () {
      yield new TextEncoder().encode("<html>502 Bad Gateway</html>");
    })();
    const root = rawBlock(new Uint8Array([1])).cid;

    await expect(verifyCarFile(junk, root, options)).rejects.toMatchObject({ code: "CAR_INVALID" });
  });
});
