import type { Command } from "commander";
import { action, examples } from "../../context.js";

export function registerChain(program: Command): void {
  const chain = program.command("chain").description("Deploy and inspect dat's contracts on EVM chains");
  chain
    .command("deploy")
    .description("Deploy the token, node registry, reward distributor and staking contract with the operator's wallet (uses the global --rpc-url)")
    .option("--chain <name|id>", "expected chain: a viem chain name (sepolia, baseSepolia…) or a chain id")
    .addHelpText(
      "after",
      examples(
        "dat chain deploy --rpc-url https://sepolia.example/rpc --chain sepolia",
        "DAT_PASSPHRASE=… dat --json chain deploy --rpc-url http://127.0.0.1:8545 --chain 31337",
      ),
    )
    .action(
      action(async (ctx, opts: { chain?: string }) => {
        const { chainDeploy } = await import("./deploy.js");
        await chainDeploy(ctx, opts);
      }),
    );
}
