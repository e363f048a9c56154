import type { Command } from "commander";
import { action, examples, type CliContext } from "../../context.js";
import type * as ConfigCommands from "./config.js";

/** A handler that loads config.js only when the subcommand runs, so `dat --help` stays light. */
function lazily(run: (commands: typeof ConfigCommands, ctx: CliContext, args: string[]) => Promise<void>) {
  return action(async (ctx, _opts, args) => run(await import("./config.js"), ctx, args));
}

export function registerConfig(program: Command): void {
  const config = program
    .command("config")
    .description("Read and change settings (flags > DAT_* environment > config file > defaults)")
    .addHelpText("after", examples("dat config list", "dat config get chain.rpcUrl", "dat config set serve.port 9000"));

  config
    .command("get")
    .description("Print the resolved value of one key")
    .argument("<key>", "dotted key, e.g. chain.rpcUrl")
    .addHelpText("after", examples("dat config get chain.rpcUrl", "dat --json config get serve.port"))
    .action(lazily((c, ctx, [key]) => c.configGet(ctx, key)));

  config
    .command("set")
    .description("Store a value in the config file (validated; JSON for numbers, records)")
    .argument("<key>", "dotted key")
    .argument("<value>", "new value")
    .addHelpText("after", examples("dat config set chain.rpcUrl http://127.0.0.1:8545", "dat config set train.backend wasm"))
    .action(lazily((c, ctx, [key, value]) => c.configSet(ctx, key, value)));

  config
    .command("unset")
    .description("Remove a key from the config file (back to the environment or the default)")
    .argument("<key>", "dotted key")
    .addHelpText("after", examples("dat config unset orchestrator.url"))
    .action(lazily((c, ctx, [key]) => c.configUnset(ctx, key)));

  config
    .command("list")
    .description("Show every key with its value and where it came from")
    .addHelpText("after", examples("dat config list", "dat --json config list"))
    .action(lazily((c, ctx) => c.configList(ctx)));
}
