import type { Command } from "commander";
import { action, examples } from "../../context.js";

export function registerDevnet(program: Command): void {
  const devnet = program
    .command("devnet")
    .description("Run a local EVM chain (Hardhat Network) with dat's contracts, the operator funded; Ctrl-C stops it")
    .option("--port <port>", "JSON-RPC port on 127.0.0.1 (0 picks a free one)", "8545")
    .option("--accounts <n>", "pre-funded devnet accounts (Hardhat's public test mnemonic)", "10")
    .option("--state <file>", "keep the chain (contracts, balances, rounds) in this file across restarts")
    .addHelpText(
      "after",
      examples("dat devnet", "dat devnet --state devnet.state &", "dat devnet --port 9545", "dat --json devnet --port 0   # first stdout line: addresses, url"),
    )
    .action(
      action(async (ctx, opts: { port: string; accounts: string; state?: string }) => {
        const { devnet } = await import("./devnet.js");
        await devnet(ctx, opts);
      }),
    );
  devnet
    .command("fund")
    .description("Give an address ETH (and DAT) on the running devnet at chain.rpcUrl; refuses any other chain")
    .requiredOption("--address <0x…>", "address to fund")
    .option("--eth <amount>", "ETH balance to set (not add)", "10")
    .option("--tokens <amount>", "DAT to mint with the wallet in --home (the token's owner)", "0")
    .addHelpText(
      "after",
      examples("dat devnet fund --address 0xAbc…", "DAT_PASSPHRASE=… dat devnet fund --address 0xAbc… --eth 1 --tokens 500"),
    )
    .action(
      action(async (ctx, opts: { address: string; eth: string; tokens: string }) => {
        const { devnetFund } = await import("./fund.js");
        await devnetFund(ctx, opts);
      }),
    );
}
