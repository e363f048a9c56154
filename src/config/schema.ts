/**
 * The configuration schema: every key dat reads, its type and its default.
 *
 * Conventions (other parts add their keys here):
 * - Nest plain `z.object({...})` groups; put `.default(...)` or `.optional()` on the leaves, never on a
 *   group (the loader builds every group itself and tracks a source per leaf).
 * - A leaf's dotted path is its key: `chain.rpcUrl`, settable with `dat config set chain.rpcUrl …` and
 *   from the environment as `DAT_` + upper snake case (`DAT_CHAIN_RPC_URL`).
 * - Records and arrays are leaves (set them with a JSON value).
 */
import { z } from "zod";

const url = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });
const backend = z.enum(["auto", "gpu", "native", "webgpu", "wasm", "cpu"]);
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "must be a 0x-prefixed 20-byte address");

/** A count or a limit: a whole number of at least 1, with one message for every way to get it wrong. */
const positiveInteger = z.number({ error: "must be a positive integer" })
  .int({ error: "must be a positive integer" })
  .positive({ error: "must be a positive integer" });

/**
 * Defaults of the registration limits of an orchestrator without on-chain registration (issue 13:
 * free identities are bounded). Raise them for a private network or a benchmark.
 */
export const ORCHESTRATOR_LIMIT_DEFAULTS = {
  /** Nodes registered in all. */
  maxNodes: 10_000,
  /** Nodes registered from one IP address. */
  maxNodesPerIp: 16,
  /** POST /nodes per minute, per IP and per address. */
  registrationsPerMinute: 30,
  /** Nodes in a page of GET /nodes when the client names no limit. */
  nodesPageSize: 100,
  /** Most nodes a client may ask for in one page. */
  nodesPageMax: 500,
} as const;

/** Contract addresses of one deployment, keyed in `chain.deployments` by chain id. */
export const deploymentSchema = z.object({
  token: address,
  registry: address,
  distributor: address,
  /** Absent in deployments made before staking existed. */
  staking: address.optional(),
  blockNumber: z.number().int().nonnegative(),
});
export type Deployment = z.infer<typeof deploymentSchema>;

export const configSchema = z.object({
  chain: z.object({
    rpcUrl: url.default("http://127.0.0.1:8545"),
    chainId: z.number().int().positive().optional(),
    deployments: z.record(z.string().regex(/^\d+$/, "chain id keys must be decimal"), deploymentSchema).default({}),
    /** Blocks per eth_getLogs request when scanning events (default 10 000); lower it for strict public RPCs. */
    logBlockRange: z.number().int().positive().optional(),
  }),
  orchestrator: z.object({
    url: url.optional(),
    /** Accept only nodes registered in the on-chain NodeRegistry (as `dat serve --onchain`). */
    requireOnchain: z.boolean().default(false),
    /** Nodes that may register in all without on-chain registration (REGISTRY_FULL beyond). */
    maxNodes: positiveInteger.default(ORCHESTRATOR_LIMIT_DEFAULTS.maxNodes),
    /** Nodes that may register from one IP without on-chain registration (REGISTRATION_IP_CAP beyond). */
    maxNodesPerIp: positiveInteger.default(ORCHESTRATOR_LIMIT_DEFAULTS.maxNodesPerIp),
    /** Registrations (POST /nodes) per minute, per IP and per address (RATE_LIMITED beyond). */
    registrationsPerMinute: positiveInteger.default(ORCHESTRATOR_LIMIT_DEFAULTS.registrationsPerMinute),
    /** Nodes per page of GET /nodes when the client names no limit. */
    nodesPageSize: positiveInteger.default(ORCHESTRATOR_LIMIT_DEFAULTS.nodesPageSize),
    /** Most nodes per page of GET /nodes a client may ask for (BAD_PAGE beyond). */
    nodesPageMax: positiveInteger.default(ORCHESTRATOR_LIMIT_DEFAULTS.nodesPageMax),
  }),
  store: z.object({
    kind: z.enum(["local", "lighthouse"]).default("local"),
    lighthouse: z.object({
      uploadUrl: url.default("https://upload.lighthouse.storage"),
      gatewayUrl: url.default("https://gateway.lighthouse.storage"),
      apiKey: z.string().min(1).optional(),
    }),
  }),
  train: z.object({
    backend: backend.default("auto"),
    /** Let a forced `webgpu` backend train on a software adapter (Mesa lavapipe, SwiftShader); CI sets it. */
    allowSoftwareGpu: z.boolean().default(false),
  }),
  serve: z.object({
    host: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(8780),
  }),
  operator: z.object({
    token: z.string().min(16, "must be at least 16 characters").optional(),
  }),
  infer: z.object({
    balanceCacheSeconds: z.number().nonnegative().default(10),
    challengeTtlSeconds: z.number().int().positive().default(120),
    rateLimitPerMinute: z.number().int().positive().default(600),
    bodyLimitBytes: z.number().int().positive().default(4 * 1024 * 1024),
    timeoutMs: z.number().int().positive().default(30_000),
    modelCacheMegabytes: z.number().positive().default(512),
    maxBatch: z.number().int().positive().default(1024),
  }),
});

/** The fully resolved configuration every service receives. */
export type DatConfig = z.infer<typeof configSchema>;

/** Keys whose values are masked in `dat config list` (shown only by an explicit `dat config get`). */
export const SECRET_KEYS: ReadonlySet<string> = new Set(["store.lighthouse.apiKey", "operator.token"]);

/**
 * Extra environment variable names accepted for a key, after its canonical `DAT_…` name
 * (short forms users already know).
 */
export const ENV_ALIASES: Readonly<Record<string, readonly string[]>> = {
  "chain.rpcUrl": ["DAT_RPC_URL"],
  "orchestrator.url": ["DAT_ORCHESTRATOR"],
  "store.lighthouse.apiKey": ["DAT_LIGHTHOUSE_API_KEY"],
};
