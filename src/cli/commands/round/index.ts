import type { Command } from "commander";
import { action, examples } from "../../context.js";

export function registerRound(program: Command): void {
  const round = program.command("round").description("Run federated rounds (operator)");
  round.command("start").description("Run one round: open, wait for submissions, close, aggregate, publish (exit 7 if not published)")
    .requiredOption("--job <id>", "job id")
    .option("--deadline <duration>", "override the job's round deadline (90s, 10m)")
    .addHelpText("after", examples("dat round start --job 1", "dat round start --job 1 --json"))
    .action(action(async (ctx, opts: { job: string; deadline?: string }) => {
      const { roundStart } = await import("./start.js");
      await roundStart(ctx, opts);
    }));
  round.command("watch").description("Show a job's round events live (opened, submissions, closed, aggregated, published)")
    .requiredOption("--job <id>", "job id")
    .option("--after <event-id>", "replay the events after this id first (0: the job's whole history)")
    .option("--until <event>", "exit after the first event of this type, e.g. round.published")
    .addHelpText("after", examples("dat round watch --job 1", "dat --orchestrator http://host:8780 round watch --job 1 --json --until round.aggregated"))
    .action(action(async (ctx, opts: { job: string; after?: string; until?: string }) => (await import("./watch.js")).roundWatch(ctx, opts)));
  round.command("open").description("Open the job's next round").requiredOption("--job <id>", "job id")
    .option("--deadline <duration>", "override the job's round deadline")
    .action(action(async (ctx, opts: { job: string; deadline?: string }) => {
      const { roundOpen } = await import("./open.js");
      await roundOpen(ctx, opts);
    }));
  round.command("close").description("Close the active round now and aggregate it (resumes an interrupted close)").requiredOption("--job <id>", "job id")
    .action(action(async (ctx, opts: { job: string }) => {
      const { roundClose } = await import("./close.js");
      await roundClose(ctx, opts);
    }));
  round.command("status").description("State, submissions and learning curve").requiredOption("--job <id>", "job id").option("--round <n>", "round (default: latest)")
    .action(action(async (ctx, opts: { job: string; round?: string }) => {
      const { roundStatus } = await import("./status.js");
      await roundStatus(ctx, opts);
    }));
  round.command("verify").description("Check a published round's model and submissions against the store").requiredOption("--job <id>", "job id").option("--round <n>", "round (default: latest)")
    .action(action(async (ctx, opts: { job: string; round?: string }) => {
      const { roundVerify } = await import("./verify.js");
      await roundVerify(ctx, opts);
    }));
  round.command("publish").description("Retry the on-chain settlement of a closed round").requiredOption("--job <id>", "job id").requiredOption("--round <n>", "round")
    .action(action(async (ctx, opts: { job: string; round: string }) => {
      const { roundPublish } = await import("./publish.js");
      await roundPublish(ctx, opts);
    }));
}
