/** The part of src/store's BlobStore the orchestrator uses. */
export interface BlobStoreLike {
  put(bytes: Uint8Array): Promise<string>;
  get(cid: string): Promise<Uint8Array>;
  has(cid: string): Promise<boolean>;
}
