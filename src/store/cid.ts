/**
 * CIDs as IPFS computes them for a file added with `ipfs add` (kubo) — which is what Lighthouse's
 * `/api/v0/add?cid-version=1` endpoint (used by @lighthouse-web3/sdk's upload, default
 * cidVersion 1) returns:
 *   - CIDv1 (default here): 256 KiB fixed-size chunks, raw leaves, balanced DAG with at most 174
 *     links per node, a single-chunk file reduced to its raw leaf (bafkrei… CIDs), dag-pb root
 *     (bafybei…) otherwise.
 *   - CIDv0 ("Qm…", kubo's and Lighthouse's cid-version=0): same chunking, dag-pb leaves.
 * Verification recomputes the CID with the parameters of the version of the CID being checked.
 *
 * Most blobs are sealed deltas that fit in one chunk, whose CIDv1 is that of a single raw leaf:
 * CIDv1(raw, sha2-256(bytes)). Those are computed directly (≈ 10 µs) instead of through the UnixFS
 * importer (≈ 1.5 ms, paid by the orchestrator for every submission); test/store/cid.test.ts holds
 * the two to the same answers around the chunk boundary.
 */
import { createHash } from "node:crypto";
import { CID } from "multiformats/cid";
import * as Digest from "multiformats/hashes/digest";
import { MalformedInputError } from "../core/errors.js";

const CHUNK = 262_144;
const MAX_CHILDREN = 174;
const RAW_CODEC = 0x55;
const SHA2_256 = 0x12;

function rawLeafCid(bytes: Uint8Array): CID {
  return CID.createV1(RAW_CODEC, Digest.create(SHA2_256, createHash("sha256").update(bytes).digest()));
}

let importerModules: Promise<[typeof import("ipfs-unixfs-importer"), typeof import("ipfs-unixfs-importer/chunker"), typeof import("ipfs-unixfs-importer/layout")]> | undefined;

/** Parses a CID string; MalformedInputError (CID_INVALID) when it is not one. */
export function parseCid(cid: string): CID {
  try {
    return CID.parse(cid);
  } catch (cause) {
    throw new MalformedInputError(`"${cid}" is not a valid IPFS CID.`, { code: "CID_INVALID", cause, hint: "Check the CID you copied (it starts with bafy…, bafk… or Qm…)." });
  }
}

/** The CID IPFS would give `bytes` added as a file, in the given CID version (default 1). */
export async function cidForBytes(bytes: Uint8Array, version: 0 | 1 = 1): Promise<string> {
  if (version === 1 && bytes.length <= CHUNK) return rawLeafCid(bytes).toString();
  const [{ importer }, { fixedSize }, { balanced }] = await (importerModules ??= Promise.all([
    import("ipfs-unixfs-importer"),
    import("ipfs-unixfs-importer/chunker"),
    import("ipfs-unixfs-importer/layout"),
  ]));
  // The CID is all we need: blocks are hashed but not kept.
  const blockstore = { put: async (key: CID) => key };
  let last: CID | undefined;
  for await (const entry of importer([{ content: bytes }], blockstore, {
    cidVersion: version,
    rawLeaves: version === 1,
    reduceSingleLeafToSelf: true,
    chunker: fixedSize({ chunkSize: CHUNK }),
    layout: balanced({ maxChildrenPerNode: MAX_CHILDREN }),
    wrapWithDirectory: false,
  })) {
    last = entry.cid;
  }
  if (!last) throw new Error("ipfs-unixfs-importer produced no CID");
  return last.toString();
}

/** True when `bytes` hash to `cid` (either CID version). */
export async function bytesMatchCid(bytes: Uint8Array, cid: string): Promise<boolean> {
  const parsed = parseCid(cid);
  if (parsed.version === 1 && bytes.length <= CHUNK) {
    // One chunk: the CID is either its raw leaf or nothing these bytes can have.
    return parsed.code === RAW_CODEC && parsed.multihash.code === SHA2_256 && rawLeafCid(bytes).equals(parsed);
  }
  const actual = await cidForBytes(bytes, parsed.version === 0 ? 0 : 1);
  return CID.parse(actual).equals(parsed);
}

/** Canonical text of a CID (v1 base32, v0 base58), so the same CID has one file name. */
export function canonicalCid(cid: string): string {
  return parseCid(cid).toString();
}
