import type { Command } from "commander";
import { action, examples } from "../../context.js";

export function registerNode(program: Command): void {
  const node = program.command("node").description("Register this machine as a contributor; list nodes");
  node.command("register").description("Sign and send this node's registration (address, hardware, backend)")
    .option("--backend <name>", "training backend to announce (default: config train.backend)")
    .option("--onchain", "also register in the on-chain NodeRegistry from this wallet (needs ETH for gas)")
    .addHelpText("after", examples("dat node register", "dat node register --onchain", "dat --orchestrator http://host:8780 node register"))
    .action(action(async (ctx, opts: { backend?: string; onchain?: boolean }) => {
      const { nodeRegister } = await import("./register.js");
      await nodeRegister(ctx, opts);
    }));
  node.command("list").description("List registered nodes")
    .action(action(async (ctx) => {
      const { nodeList } = await import("./list.js");
      await nodeList(ctx);
    }));
}
