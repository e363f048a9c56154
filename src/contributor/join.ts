/**
 * `dat join <orchestrator-url>`: read the network's description (GET /network of `dat serve`),
 * check it against the chain (the RPC serves the announced chain id; every announced contract has
 * code there), then record chain and orchestrator in the home's config in ONE atomic write. Any
 * failure before that write leaves the config exactly as it was.
 */
import { z } from "zod";
import type { Address } from "viem";
import { DatError, NetworkError, UserError } from "../core/errors.js";
import type { Deployment } from "../config/schema.js";

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/);
const networkSchema = z.object({
  service: z.literal("dat-orchestrator"),
  version: z.number().int().positive(),
  chain: z.object({
    chainId: z.number().int().positive(),
    rpcUrl: z.url({ protocol: /^https?$/ }),
    contracts: z.object({
      token: address, registry: address, distributor: address, staking: address.optional(), blockNumber: z.number().int().nonnegative(),
    }),
  }).nullable(),
  gateToken: address.nullable(),
  jobs: z.array(z.object({
    id: z.number().int().positive(), name: z.string().nullable(), rounds: z.number().int(), publishedRounds: z.number().int(),
    minContributors: z.number().int(), rewardPerRound: z.string(), gate: z.object({ token: z.string().nullable(), min: z.string().nullable() }),
  })),
});
export type NetworkDescriptionInput = z.infer<typeof networkSchema>;

export interface JoinNetworkOptions {
  home: string;
  /** Base URL of the orchestrator (`dat serve`). */
  url: string;
  /** RPC to check and record instead of the network's hint (--rpc-url). */
  rpcUrl?: string;
  timeoutMs?: number;
}

export interface JoinNetworkResult {
  orchestratorUrl: string;
  chainId: number;
  rpcUrl: string;
  contracts: Deployment;
  gateToken: string | null;
  jobs: NetworkDescriptionInput["jobs"];
}

/** Reads, checks and records the network at `url`; the config is written only when all checks pass. */
export async function joinNetwork(options: JoinNetworkOptions): Promise<JoinNetworkResult> {
  const base = orchestratorBase(options.url);
  const description = await readNetwork(base, options.timeoutMs ?? 15_000);
  const chain = description.chain;
  if (!chain) {
    throw new UserError(`The orchestrator at ${base} announces no chain: its operator has no dat contracts configured.`, {
      code: "JOIN_NO_CHAIN",
      hint: "Ask the operator to run `dat devnet` or `dat chain deploy` before `dat serve`.",
    });
  }
  const rpcUrl = options.rpcUrl ?? chain.rpcUrl;
  const { connectChain, assertContractCode } = await import("../chain/clients.js");
  let connection: Awaited<ReturnType<typeof connectChain>>;
  try {
    connection = await connectChain({ rpcUrl, expectedChainId: chain.chainId, timeoutMs: options.timeoutMs ?? 15_000 });
  } catch (error) {
    if (error instanceof DatError && error.code === "WRONG_CHAIN") {
      const served = (error.data as { chainId?: number } | undefined)?.chainId;
      throw new UserError(`The RPC at ${rpcUrl} serves chain ${served}, but the network at ${base} runs on chain ${chain.chainId}.`, {
        code: "JOIN_CHAIN_MISMATCH",
        hint: `Pass --rpc-url with a node of chain ${chain.chainId}.`,
        data: { rpcUrl, chainId: served, expectedChainId: chain.chainId },
      });
    }
    throw error;
  }
  const named: [string, string | undefined][] = [
    ["DatToken", chain.contracts.token], ["NodeRegistry", chain.contracts.registry],
    ["RewardDistributor", chain.contracts.distributor], ["Staking", chain.contracts.staking],
  ];
  for (const [name, at] of named) {
    if (at) await assertContractCode(connection.publicClient, at as Address, `${name}, announced by ${base}`);
  }
  const contracts: Deployment = { ...chain.contracts };
  const { updateConfig } = await import("../config/write.js");
  // One write: chain and orchestrator together, or nothing.
  await updateConfig(options.home, (cfg) => {
    const c = cfg as Record<string, Record<string, unknown> | undefined>;
    const deployments = { ...((c.chain?.deployments as Record<string, unknown> | undefined) ?? {}), [String(chain.chainId)]: contracts };
    c.chain = { ...(c.chain ?? {}), rpcUrl, chainId: chain.chainId, deployments };
    c.orchestrator = { ...(c.orchestrator ?? {}), url: base };
    return cfg;
  });
  return { orchestratorUrl: base, chainId: chain.chainId, rpcUrl, contracts, gateToken: description.gateToken, jobs: description.jobs };
}

function orchestratorBase(raw: string): string {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new UserError(`"${raw}" is not a URL.`, { code: "ORCHESTRATOR_BAD_URL", hint: "Pass the orchestrator's address, e.g. http://host:8780" });
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new UserError(`"${raw}" is not an http(s) URL.`, { code: "ORCHESTRATOR_BAD_URL", hint: "Pass the orchestrator's address, e.g. http://host:8780" });
  }
  return parsed.toString().replace(/\/$/, "");
}

async function readNetwork(base: string, timeoutMs: number): Promise<NetworkDescriptionInput> {
  const { request } = await import("undici");
  const notDat = (why: string) => new UserError(`${base} is not a dat orchestrator: ${why}.`, {
    code: "JOIN_NOT_ORCHESTRATOR",
    hint: "Check the URL: it is the address `dat serve` printed (http://host:port).",
    data: { url: base },
  });
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(`${base}/network`, { method: "GET", headersTimeout: timeoutMs, bodyTimeout: timeoutMs, maxRedirections: 0 } as never);
  } catch (error) {
    throw new NetworkError(`Cannot reach ${base}: ${(error as Error).message}`, {
      code: "ORCHESTRATOR_UNREACHABLE", hint: "Is dat serve running there?", cause: error, data: { url: base },
    });
  }
  const text = await res.body.text();
  if (res.statusCode !== 200) throw notDat(`GET /network answered HTTP ${res.statusCode}`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw notDat("GET /network did not answer JSON");
  }
  const parsed = networkSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw notDat(`its network description is not dat's (${issue.path.join(".") || "body"}: ${issue.message})`);
  }
  return parsed.data;
}
