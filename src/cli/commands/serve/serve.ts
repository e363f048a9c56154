/**
 * `dat serve`: prints one ready line (and a `{"event":"ready","url":…}` JSON line on stderr under
 * --json) once listening, so scripts can wait for it; stops cleanly on SIGINT / SIGTERM.
 */
import { configOptions, type CliContext } from "../../context.js";
import { UsageError, UserError } from "../../../core/errors.js";
import type { DatConfig } from "../../../config/schema.js";
import type { ServerOptions } from "../../../server/app.js";

export async function serve(ctx: CliContext, opts: { host?: string; port?: string; onchain?: boolean }): Promise<void> {
  const { loadConfig } = await import("../../../config/index.js");
  const config = (await loadConfig(configOptions(ctx))).values;
  const host = opts.host ?? config.serve.host;
  const port = opts.port === undefined ? config.serve.port : Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0-65535, got "${opts.port}".`);
  const { createEmbeddedOrchestrator } = await import("../../../orchestrator/embedded.js");
  const { buildServer } = await import("../../../server/app.js");
  const onchain = opts.onchain === true || config.orchestrator.requireOnchain;
  const isRegistered = onchain
    ? await (await import("../../../orchestrator/onchain.js")).onchainRegistrationCheck(config)
    : undefined;
  const { lazyChainStakeOracle } = await import("../../../orchestrator/stake.js");
  const orch = await createEmbeddedOrchestrator({ home: ctx.home, config, isRegistered, staking: lazyChainStakeOracle(config) });
  const options = serverOptions(ctx, orch, config);
  const { operatorToken } = options;
  const app = await buildServer(options);
  const url = await app.listen({ host, port }).catch(async (error: NodeJS.ErrnoException) => {
    await app.close();
    await orch.close();
    throw listenError(error, host, port);
  });
  ctx.out.event("ready", { url, operatorRoutes: Boolean(operatorToken), onchain });
  ctx.out.info(`dat serve listening on ${url}${onchain ? " (on-chain registration required)" : ""}${operatorToken ? "" : " (no operator token: operator calls only in this home)"}`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  await app.close();
  await orch.close();
  ctx.out.result({ url, stopped: true }, () => ["dat serve stopped"]);
}

/**
 * What buildServer gets: the operator token (env over config) and, for the inference routes, the
 * config loaded with this invocation's overrides (--rpc-url, DAT_* env), not a fresh read of the file.
 */
export function serverOptions(ctx: CliContext, orchestrator: ServerOptions["orchestrator"], config: DatConfig): ServerOptions {
  return {
    orchestrator, operatorToken: ctx.env.DAT_OPERATOR_TOKEN ?? config.operator.token, home: ctx.home,
    // The registration caps themselves are the orchestrator's (it got `config`); the rate and page
    // limits are the routes'.
    limits: config.orchestrator,
    pluginDeps: { config },
    logRequest: (r) => ctx.out.logLine("request", r, `${r.method} ${r.url} ${r.status} ${r.ms}ms`),
  };
}

/** A port that is taken or not ours to bind is the user's to fix, not a bug in dat. */
export function listenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  if (error.code === "EADDRINUSE") {
    return new UserError(`Port ${port} on ${host} is already in use.`, {
      code: "PORT_IN_USE",
      hint: `Stop the other server, or pick another port: dat serve --port ${port === 0 ? 8545 : port + 1}`,
      cause: error,
    });
  }
  if (error.code === "EACCES" || error.code === "EADDRNOTAVAIL") {
    return new UserError(`Cannot listen on ${host}:${port} (${error.code}).`, {
      code: "BAD_PORT",
      hint: "Pick a port above 1023 with --port, or a local address with --host.",
      cause: error,
    });
  }
  return error;
}
