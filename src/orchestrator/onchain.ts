/**
 * The on-chain registration check of an orchestrator run with `--onchain` (or config
 * orchestrator.requireOnchain): one connection to the configured chain, made at startup so a
 * missing chain or deployment fails before any contributor is turned away.
 */
import type { Address } from "viem";
import type { DatConfig } from "../config/schema.js";
import type { Hex } from "./types.js";

/** Builds `isRegistered(address)` over the NodeRegistry recorded for the configured chain. */
export async function onchainRegistrationCheck(
  config: DatConfig,
  options: { rpcUrl?: string } = {},
): Promise<(address: Hex) => Promise<boolean>> {
  const { connectConfiguredChain, assertContractCode } = await import("../chain/clients.js");
  const { isNodeRegistered } = await import("../chain/registry.js");
  const chain = await connectConfiguredChain(config, { rpcUrl: options.rpcUrl });
  const registry = chain.deployment.registry as Address;
  await assertContractCode(chain.publicClient, registry, "NodeRegistry");
  return (address) => isNodeRegistered(chain.publicClient, registry, address as Address);
}
