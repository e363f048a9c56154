import type { Command } from "commander";
import { action, examples } from "../../context.js";

export function registerRewards(program: Command): void {
  const rewards = program
    .command("rewards")
    .description("What an address earned per job and round, what is claimable and claimed, and its DAT balance")
    .option("--address <0x…>", "address to report (default: the wallet in --home)")
    .option("--job <id>", "only this job")
    .addHelpText("after", examples("dat rewards", "dat rewards --job 1 --address 0xAbc…", "dat --json rewards", "dat rewards claim --job 1"))
    .action(
      action(async (ctx, opts: { address?: string; job?: string }) => {
        const { rewardsShow } = await import("./show.js");
        await rewardsShow(ctx, opts);
      }),
    );
  rewards
    .command("claim")
    .description("Claim everything claimable for the wallet in --home, in as few transactions as possible")
    .option("--job <id>", "only this job")
    .addHelpText("after", examples("dat rewards claim", "DAT_PASSPHRASE=… dat --json rewards claim --job 1"))
    .action(
      action(async (ctx, opts: { job?: string }) => {
        const { rewardsClaim } = await import("./claim.js");
        await rewardsClaim(ctx, opts);
      }),
    );
}
