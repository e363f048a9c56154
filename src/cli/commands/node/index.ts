import type { Command } from "commander";
import { action, examples } from "../../context.js";

export function registerNode(program: Command): void {
  const node = program.command("node").description("Register this machine as a contributor; list nodes");
  node.command("register").description("Sign and send this node's registration (address, hardware, backend)")
    .option("--backend <name>", "training backend to announce (default: config train.backend)")
    .option("--onchain", "also register in the on-chain NodeRegistry from this wallet (needs ETH for gas)")
    .option("--stake <amount>", "stake this many DAT in the --job before registering (jobs with a minimum stake need it)")
    .option("--job <id>", "the job to stake in (with --stake)")
    .addHelpText("after", examples("dat node register", "dat node register --stake 10 --job 1", "dat node register --onchain", "dat --orchestrator http://host:8780 node register"))
    .action(action(async (ctx, opts: { backend?: string; onchain?: boolean; stake?: string; job?: string }) => {
      const { nodeRegister } = await import("./register.js");
      await nodeRegister(ctx, opts);
    }));
  node.command("stake").description("Stake DAT in a job (needed to take part when the job has a minimum)")
    .requiredOption("--job <id>", "job id").requiredOption("--amount <n>", "DAT to add to the stake")
    .addHelpText("after", examples("dat node stake --job 1 --amount 10"))
    .action(action(async (ctx, opts: { job?: string; amount?: string }) => (await import("./unstake.js")).nodeStake(ctx, opts)));
  node.command("unstake").description("Stop a job's stake counting; with --withdraw, take it back after the cooldown")
    .requiredOption("--job <id>", "job id").option("--withdraw", "withdraw the pending stake once the cooldown is over")
    .addHelpText("after", examples("dat node unstake --job 1", "dat node unstake --job 1 --withdraw"))
    .action(action(async (ctx, opts: { job?: string; withdraw?: boolean }) => (await import("./unstake.js")).nodeUnstake(ctx, opts)));
  node.command("list").description("List registered nodes")
    .action(action(async (ctx) => {
      const { nodeList } = await import("./list.js");
      await nodeList(ctx);
    }));
}
