/**
 * Content-addressed blob storage. Every implementation names a blob by the IPFS CID that IPFS (and
 * Lighthouse) would give the same bytes as a file, so a CID recorded in a submission or on chain
 * means the same thing whichever store holds it, and every read is checked against it.
 */
export interface BlobStore {
  /** Stores bytes and returns their CID (idempotent: the same bytes give the same CID). */
  put(bytes: Uint8Array): Promise<string>;
  /** Returns the bytes of a CID, verified; NotFoundError when absent, MalformedInputError when corrupt. */
  get(cid: string, options?: GetOptions): Promise<Uint8Array>;
  has(cid: string): Promise<boolean>;
}

export interface GetOptions {
  /** Largest blob the caller expects, in bytes: a remote store stops reading (BLOB_TOO_LARGE) beyond it. */
  maxBytes?: number;
}
