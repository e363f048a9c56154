/**
 * GET /network — the network's description, what `dat join <url>` records in a contributor's
 * home: the chain (id, an RPC URL hint, the dat contract addresses), the gate token and a
 * summary of the jobs. Built from the served home's config at each request, so a devnet that
 * the operator restarted (new addresses) is described as it is now.
 *
 * `{ service: "dat-orchestrator", version: 1, chain: { chainId, rpcUrl, contracts: { token,
 *   registry, distributor, staking?, blockNumber } } | null, gateToken: address | null,
 *   jobs: [{ id, name, rounds, publishedRounds, minContributors, rewardPerRound, gate }] }`
 */
import type { FastifyInstance } from "fastify";
import type { DatConfig, Deployment } from "../config/schema.js";
import type { Orchestrator } from "../orchestrator/types.js";

export const NETWORK_SERVICE = "dat-orchestrator";
export const NETWORK_VERSION = 1;

export interface NetworkRoutesOptions {
  orchestrator: Orchestrator;
  /** The served home's resolved config (chain settings); without one, `chain` is null. */
  config?: DatConfig;
}

export interface NetworkDescription {
  service: typeof NETWORK_SERVICE;
  version: number;
  chain: { chainId: number; rpcUrl: string; contracts: Deployment } | null;
  gateToken: string | null;
  jobs: {
    id: number;
    name: string | null;
    rounds: number;
    publishedRounds: number;
    minContributors: number;
    rewardPerRound: string;
    gate: { token: string | null; min: string | null };
  }[];
}

/** The chain a home's config names: chain.chainId, else its only recorded deployment. */
export function describedChain(config: DatConfig | undefined): NetworkDescription["chain"] {
  if (!config) return null;
  const ids = Object.keys(config.chain.deployments);
  const chainId = config.chain.chainId ?? (ids.length === 1 ? Number(ids[0]) : undefined);
  const contracts = chainId === undefined ? undefined : config.chain.deployments[String(chainId)];
  return chainId !== undefined && contracts ? { chainId, rpcUrl: config.chain.rpcUrl, contracts } : null;
}

/** Adds GET /network to `app`. */
export function networkRoutes(app: FastifyInstance, options: NetworkRoutesOptions): void {
  app.get("/network", async (): Promise<NetworkDescription> => {
    const chain = describedChain(options.config);
    const jobs = await options.orchestrator.listJobs();
    return {
      service: NETWORK_SERVICE,
      version: NETWORK_VERSION,
      chain,
      gateToken: chain?.contracts.token ?? null,
      jobs: jobs.map((j) => ({
        id: j.id, name: j.name, rounds: j.rounds, publishedRounds: j.publishedRounds, minContributors: j.minContributors,
        rewardPerRound: j.rewardPerRound, gate: j.gate,
      })),
    };
  });
}
