import type { Command } from "commander";
import { action, examples } from "../../context.js";

export function registerDevnet(program: Command): void {
  program
    .command("devnet")
    .description("Run a local EVM chain (Hardhat Network) with dat's contracts, the operator funded; Ctrl-C stops it")
    .option("--port <port>", "JSON-RPC port on 127.0.0.1 (0 picks a free one)", "8545")
    .option("--accounts <n>", "pre-funded devnet accounts", "10")
    .addHelpText(
      "after",
      examples("dat devnet", "dat devnet --port 9545", "dat --json devnet --port 0   # first stdout line: addresses, url"),
    )
    .action(
      action(async (ctx, opts: { port: string; accounts: string }) => {
        const { devnet } = await import("./devnet.js");
        await devnet(ctx, opts);
      }),
    );
}
