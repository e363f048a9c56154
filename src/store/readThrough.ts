import type { BlobStore } from "./blobStore.js";
import { bytesMatchCid } from "./cid.js";
import { MalformedInputError } from "../core/errors.js";

/** Where to fetch a blob the primary store lacks (e.g. the orchestrator's blob route). */
export type BlobFetcher = (cid: string) => Promise<Uint8Array>;

/**
 * A store that answers from `primary` and, for blobs it lacks, fetches them from `fetchRemote`,
 * verifies them against their CID and keeps a copy. Contributors use it to read the operator's
 * reward trees: the bytes come from a peer, so nothing is trusted before the hash matches.
 */
export function readThroughStore(primary: BlobStore, fetchRemote: BlobFetcher): BlobStore {
  return {
    put: (bytes) => primary.put(bytes),
    has: async (cid) => (await primary.has(cid)) || (await fetchRemote(cid).then(() => true, () => false)),
    async get(cid) {
      if (await primary.has(cid)) return primary.get(cid);
      const bytes = await fetchRemote(cid);
      if (!(await bytesMatchCid(bytes, cid))) {
        throw new MalformedInputError(`The blob fetched for ${cid} does not match its CID.`, {
          code: "BLOB_CID_MISMATCH",
          hint: "The peer served wrong bytes; try again or use another orchestrator.",
        });
      }
      // Keep a verified copy so the next read is local.
      await primary.put(bytes);
      return bytes;
    },
  };
}
