/**
 * Which orchestrator a command talks to: `--orchestrator <url>` (or config orchestrator.url /
 * DAT_ORCHESTRATOR) gives the HTTP client, with the operator token from operator.token /
 * DAT_OPERATOR_TOKEN; otherwise the embedded orchestrator of the home.
 */
import type { CliContext } from "../cli/context.js";
import type { DatConfig } from "../config/schema.js";
import type { Orchestrator } from "./types.js";

export async function connectOrchestrator(
  ctx: Pick<CliContext, "home" | "env" | "orchestrator" | "rpcUrl">,
  loaded?: DatConfig,
): Promise<Orchestrator> {
  const config = loaded ?? (await (await import("../config/index.js")).loadConfig(ctx)).values;
  const url = ctx.orchestrator ?? config.orchestrator.url;
  if (url) {
    const { createHttpOrchestrator } = await import("./http/client.js");
    return createHttpOrchestrator({ url, operatorToken: ctx.env.DAT_OPERATOR_TOKEN ?? config.operator.token });
  }
  const { createEmbeddedOrchestrator } = await import("./embedded.js");
  if (!config.orchestrator.requireOnchain) return createEmbeddedOrchestrator({ home: ctx.home, config });
  const { onchainRegistrationCheck } = await import("./onchain.js");
  return createEmbeddedOrchestrator({ home: ctx.home, config, isRegistered: await onchainRegistrationCheck(config) });
}
