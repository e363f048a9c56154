/**
 * The orchestrator a command talks to, from this invocation's flags, environment and config:
 * the one place the CLI turns its context into connectOrchestrator's arguments.
 */
import { configOptions, type CliContext } from "./context.js";
import type { DatConfig } from "../config/schema.js";
import type { Orchestrator } from "../orchestrator/types.js";

/** Connects with --orchestrator / DAT_OPERATOR_TOKEN over the config (loaded here unless given). */
export async function openOrchestrator(ctx: CliContext, config?: DatConfig): Promise<Orchestrator> {
  const values = config ?? (await (await import("../config/index.js")).loadConfig(configOptions(ctx))).values;
  const { connectOrchestrator } = await import("../orchestrator/connect.js");
  return connectOrchestrator({ home: ctx.home, config: values, url: ctx.orchestrator, operatorToken: ctx.env.DAT_OPERATOR_TOKEN });
}
