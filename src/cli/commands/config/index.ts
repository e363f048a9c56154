import type { Command } from "commander";
import { action, examples } from "../../context.js";

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
    .action(
      action(async (ctx, _opts, args) => {
        const { configGet } = await import("./config.js");
        await configGet(ctx, args[0]);
      }),
    );

  config
    .command("set")
    .description("Store a value in the config file (validated; JSON for numbers, records)")
    .argument("<key>", "dotted key")
    .argument("<value>", "new value")
    .addHelpText("after", examples("dat config set chain.rpcUrl http://127.0.0.1:8545", "dat config set train.backend wasm"))
    .action(
      action(async (ctx, _opts, args) => {
        const { configSet } = await import("./config.js");
        await configSet(ctx, args[0], args[1]);
      }),
    );

  config
    .command("unset")
    .description("Remove a key from the config file (back to the environment or the default)")
    .argument("<key>", "dotted key")
    .addHelpText("after", examples("dat config unset orchestrator.url"))
    .action(
      action(async (ctx, _opts, args) => {
        const { configUnset } = await import("./config.js");
        await configUnset(ctx, args[0]);
      }),
    );

  config
    .command("list")
    .description("Show every key with its value and where it came from")
    .addHelpText("after", examples("dat config list", "dat --json config list"))
    .action(
      action(async (ctx) => {
        const { configList } = await import("./config.js");
        await configList(ctx);
      }),
    );
}
