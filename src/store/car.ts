/**
 * Verification of a file served by an IPFS gateway as a CAR (`GET /ipfs/<cid>?format=car`,
 * the trustless gateway format). Every block is hashed and compared with its CID, then the UnixFS
 * DAG is walked from the requested root in link order and the file reassembled. Nothing here
 * depends on how the file was chunked or laid out (fixed 256 KiB or 1 MiB, rabin, balanced or
 * trickle, CIDv0 or CIDv1, raw or dag-pb leaves): only the hashes and the links decide, so content
 * uploaded by any IPFS tool verifies, and any damage is named by the block it is in.
 */
import { createHash } from "node:crypto";
import type { CID } from "multiformats/cid";
import { MalformedInputError, type ErrorCode } from "../core/errors.js";

const RAW_CODEC = 0x55;
const DAG_PB_CODEC = 0x70;
const SHA2_256 = 0x12;
/** Deepest DAG walked; kubo's balanced layout reaches depth 4 at ~1 TiB, so 64 is never legitimate. */
const MAX_DEPTH = 64;

export interface VerifyCarOptions {
  /** Largest file accepted, in bytes; the CAR itself may be at most this plus the DAG's overhead. */
  maxBytes: number;
  /** Who served the CAR, for messages. */
  source: string;
}

/** The most CAR bytes read for a file of `maxBytes`: leaves plus links, CIDs and section headers. */
export function carByteLimit(maxBytes: number): number {
  return maxBytes + Math.ceil(maxBytes / 4) + 1024 * 1024;
}

/**
 * Reads a CAR from `chunks`, checks every block against its CID and returns the bytes of the
 * UnixFS file rooted at `root`. Throws MalformedInputError naming the CID and the fault:
 * CAR_INVALID (not a CAR or cut short), CAR_WRONG_ROOT, CAR_UNSUPPORTED_HASH / CAR_UNSUPPORTED_CODEC,
 * CAR_BLOCK_MISMATCH, CAR_MISSING_BLOCK, CAR_NOT_A_FILE, BLOB_TOO_LARGE.
 */
export async function verifyCarFile(chunks: AsyncIterable<Uint8Array>, root: CID, options: VerifyCarOptions): Promise<Uint8Array> {
  const rootText = root.toString();
  const fail = (code: ErrorCode, message: string, cause?: unknown, data: Record<string, unknown> = {}) =>
    new MalformedInputError(message, {
      code,
      cause,
      hint: `${options.source} served damaged or wrong content for ${rootText}; nothing was kept. Retry, or use another gateway (store.lighthouse.gatewayUrl).`,
      data: { cid: rootText, source: options.source, ...data },
    });

  const { CarBlockIterator } = await import("@ipld/car/iterator");
  const limit = carByteLimit(options.maxBytes);
  let read = 0;
  async function* bounded(): AsyncIterable<Uint8Array> {
    for await (const chunk of chunks) {
      read += chunk.byteLength;
      // Stop reading at the bound, whatever the gateway declared: a CAR can be padded with junk.
      if (read > limit) throw tooLarge(rootText, options.maxBytes);
      yield chunk;
    }
  }

  const blocks = new Map<string, Uint8Array>();
  try {
    const car = await CarBlockIterator.fromIterable(bounded());
    const roots = await car.getRoots();
    const stranger = roots.find((r) => !r.equals(root));
    if (roots.length === 0 || stranger) {
      throw fail("CAR_WRONG_ROOT", `The CAR served for ${rootText} has root${roots.length === 1 ? "" : "s"} [${roots.map(String).join(", ")}], not ${rootText}.`, undefined, { roots: roots.map(String) });
    }
    for await (const block of car) {
      const cid = block.cid;
      if (cid.multihash.code !== SHA2_256) {
        throw fail("CAR_UNSUPPORTED_HASH", `Block ${cid} in the CAR for ${rootText} uses hash function 0x${cid.multihash.code.toString(16)}; only sha2-256 is verified.`, undefined, { block: String(cid) });
      }
      if (cid.code !== RAW_CODEC && cid.code !== DAG_PB_CODEC) {
        throw fail("CAR_UNSUPPORTED_CODEC", `Block ${cid} in the CAR for ${rootText} has codec 0x${cid.code.toString(16)}; a UnixFS file has only dag-pb and raw blocks.`, undefined, { block: String(cid) });
      }
      const digest = createHash("sha256").update(block.bytes).digest();
      if (!digest.equals(cid.multihash.digest)) {
        throw fail("CAR_BLOCK_MISMATCH", `Block ${cid} in the CAR for ${rootText} does not hash to its CID (its bytes were altered).`, undefined, { block: String(cid) });
      }
      blocks.set(blockKey(cid), block.bytes);
    }
  } catch (error) {
    if (error instanceof MalformedInputError) throw error;
    // @ipld/car throws plain Errors for a cut-short or unparsable stream; network faults pass through.
    if (isCarDecodeError(error)) {
      throw fail("CAR_INVALID", `The CAR served for ${rootText} is not a valid CAR or was cut short: ${(error as Error).message}.`, error);
    }
    throw error;
  }

  const { decode } = await import("@ipld/dag-pb");
  const { UnixFS } = await import("ipfs-unixfs");
  const parts: Uint8Array[] = [];
  let total = 0;
  const append = (bytes: Uint8Array) => {
    total += bytes.byteLength;
    // Links may point at the same block many times: bound the output, not just the input.
    if (total > options.maxBytes) throw tooLarge(rootText, options.maxBytes);
    if (bytes.byteLength > 0) parts.push(bytes);
  };

  const walk = (cid: CID, depth: number): void => {
    if (depth > MAX_DEPTH) throw fail("CAR_INVALID", `The DAG of ${rootText} is deeper than ${MAX_DEPTH} levels.`);
    const bytes = blocks.get(blockKey(cid));
    if (!bytes) throw fail("CAR_MISSING_BLOCK", `The CAR served for ${rootText} lacks block ${cid}.`, undefined, { block: String(cid) });
    if (cid.code === RAW_CODEC) return append(bytes);
    if (cid.code !== DAG_PB_CODEC || cid.multihash.code !== SHA2_256) {
      throw fail("CAR_UNSUPPORTED_CODEC", `The DAG of ${rootText} links to ${cid}, which is neither a sha2-256 dag-pb nor a raw block.`, undefined, { block: String(cid) });
    }
    let node: ReturnType<typeof decode>;
    let unixfs: InstanceType<typeof UnixFS>;
    try {
      node = decode(bytes);
      if (!node.Data) throw new Error("no UnixFS data");
      unixfs = UnixFS.unmarshal(node.Data);
    } catch (cause) {
      throw fail("CAR_INVALID", `Block ${cid} of ${rootText} is not a UnixFS node: ${(cause as Error).message}.`, cause, { block: String(cid) });
    }
    if (unixfs.type !== "file" && unixfs.type !== "raw") {
      throw fail("CAR_NOT_A_FILE", `${cid === root ? rootText : `Block ${cid} of ${rootText}`} is a UnixFS ${unixfs.type}, not a file.`, undefined, { block: String(cid) });
    }
    const start = total;
    if (unixfs.data) append(unixfs.data);
    for (const link of node.Links) walk(link.Hash, depth + 1);
    // A node states its file size; a node whose children add up to something else is forged.
    if (unixfs.type === "file" && BigInt(total - start) !== unixfs.fileSize()) {
      throw fail("CAR_INVALID", `Node ${cid} of ${rootText} declares ${unixfs.fileSize()} bytes but its blocks hold ${total - start}.`, undefined, { block: String(cid) });
    }
  };
  walk(root, 0);

  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** Blocks are found by their hash: a CIDv0 link and a CIDv1 name the same dag-pb bytes. */
function blockKey(cid: CID): string {
  return Buffer.from(cid.multihash.bytes).toString("base64");
}

function isCarDecodeError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  // undici / socket faults carry a code; decoder errors from @ipld/car, cborg and varint do not.
  if ((error as { code?: unknown }).code !== undefined || error.name === "AbortError") return false;
  return !/fetch failed|socket|terminated|other side closed/i.test(error.message);
}

function tooLarge(cid: string, max: number): MalformedInputError {
  return new MalformedInputError(`Blob ${cid} is larger than the ${max}-byte limit.`, { code: "BLOB_TOO_LARGE", data: { cid, maxBytes: max } });
}
