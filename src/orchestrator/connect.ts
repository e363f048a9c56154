/**
 * Which orchestrator a caller talks to: a URL (`--orchestrator`, config orchestrator.url,
 * DAT_ORCHESTRATOR) gives the HTTP client, with the operator token; otherwise the embedded
 * orchestrator of the home. Takes the loaded config: the caller resolved flags and environment.
 */
import type { DatConfig } from "../config/schema.js";
import type { Orchestrator } from "./types.js";

export interface ConnectOrchestratorOptions {
  home: string;
  config: DatConfig;
  /** Overrides config orchestrator.url (the --orchestrator flag). */
  url?: string;
  /** Overrides config operator.token (DAT_OPERATOR_TOKEN). */
  operatorToken?: string;
}

/** Opens the HTTP client when a URL is set, else the embedded orchestrator of `home`. */
export async function connectOrchestrator(options: ConnectOrchestratorOptions): Promise<Orchestrator> {
  const { config, home } = options;
  const url = options.url ?? config.orchestrator.url;
  if (url) {
    const { createHttpOrchestrator } = await import("./http/client.js");
    return createHttpOrchestrator({ url, operatorToken: options.operatorToken ?? config.operator.token });
  }
  const { createEmbeddedOrchestrator } = await import("./embedded.js");
  const { lazyChainStakeOracle } = await import("./stake.js");
  const staking = lazyChainStakeOracle(config);
  if (!config.orchestrator.requireOnchain) return createEmbeddedOrchestrator({ home, config, staking });
  const { onchainRegistrationCheck } = await import("./onchain.js");
  return createEmbeddedOrchestrator({ home, config, staking, isRegistered: await onchainRegistrationCheck(config) });
}
