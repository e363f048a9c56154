/**
 * CIDs as IPFS computes them for a file added with `ipfs add` (kubo) — which is what Lighthouse's
 * `/api/v0/add?cid-version=1` endpoint (used by @lighthouse-web3/sdk's upload, default
 * cidVersion 1) returns:
 *   - CIDv1 (default here): 256 KiB fixed-size chunks, raw leaves, balanced DAG with at most 174
 *     links per node, a single-chunk file reduced to its raw leaf (bafkrei… CIDs), dag-pb root
 *     (bafybei…) otherwise.
 *   - CIDv0 ("Qm…", kubo's and Lighthouse's cid-version=0): same chunking, dag-pb leaves.
 * Verification recomputes the CID with the parameters of the version of the CID being checked.
 */
import { CID } from "multiformats/cid";
import { MalformedInputError } from "../core/errors.js";

const CHUNK = 262_144;
const MAX_CHILDREN = 174;

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
  const [{ importer }, { fixedSize }, { balanced }] = await Promise.all([
    import("ipfs-unixfs-importer"),
    import("ipfs-unixfs-importer/chunker"),
    import("ipfs-unixfs-importer/layout"),
  ]);
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
  const actual = await cidForBytes(bytes, parsed.version === 0 ? 0 : 1);
  return CID.parse(actual).equals(parsed);
}

/** Canonical text of a CID (v1 base32, v0 base58), so the same CID has one file name. */
export function canonicalCid(cid: string): string {
  return parseCid(cid).toString();
}
