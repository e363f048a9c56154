import type { Command } from "commander";
import { action, examples } from "../../context.js";
import type { InitOptions } from "./init.js";


export function registerInit(program: Command): void {
  program
    .command("init")
    .description("Create the dat home, its config file and a wallet (keystore V3, mode 0600)")
    .option("--import", "import an existing private key (hex) from stdin or DAT_PRIVATE_KEY instead of generating one")
    .option("--force", "replace an existing wallet (the old keystore is kept as a .bak file)")
    .addHelpText(
      "after",
      examples(
        "dat init",
        "DAT_PASSPHRASE=… dat init --json",
        "cat key.txt | DAT_PASSPHRASE=… dat init --import",
      ) + "\nThe passphrase comes from DAT_PASSPHRASE, else a prompt (asked twice) on a terminal.\n",
    )
    .action(
      action(async (ctx, opts: InitOptions) => {
        const { init } = await import("./init.js");
        await init(ctx, opts);
      }),
    );
}
