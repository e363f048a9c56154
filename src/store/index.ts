/** Blob storage: pick the configured store. Heavy modules load only for the store in use. */
import type { BlobStore } from "./blobStore.js";

export type { BlobStore, GetOptions } from "./blobStore.js";

/** The part of the resolved config (DatConfig) that chooses and configures the store. */
export interface StoreConfig {
  store: {
    kind: "local" | "lighthouse";
    lighthouse: { uploadUrl: string; gatewayUrl: string; apiKey?: string; timeoutMs?: number };
  };
}

export interface OpenStoreOptions {
  /** Environment to read DAT_LIGHTHOUSE_API_KEY from when the config has no key; default process.env. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Opens the blob store named by `store.kind`: "local" is the content-addressed folder in the
 * home, "lighthouse" uploads through Lighthouse and reads from its gateway.
 */
export async function openStore(home: string, config: StoreConfig, options: OpenStoreOptions = {}): Promise<BlobStore> {
  if (config.store.kind === "lighthouse") {
    const { LighthouseBlobStore } = await import("./lighthouse.js");
    const env = options.env ?? process.env;
    return new LighthouseBlobStore({
      uploadUrl: config.store.lighthouse.uploadUrl,
      gatewayUrl: config.store.lighthouse.gatewayUrl,
      apiKey: config.store.lighthouse.apiKey ?? env.DAT_LIGHTHOUSE_API_KEY,
      timeoutMs: config.store.lighthouse.timeoutMs,
    });
  }
  const { LocalBlobStore } = await import("./local.js");
  return new LocalBlobStore(home);
}
