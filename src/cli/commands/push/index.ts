import type { Command } from "commander";
import { action, examples } from "../../context.js";

export function registerPush(program: Command): void {
  program.command("push").description("Seal and submit the last delta trained for the job's current round")
    .requiredOption("--job <id>", "job id")
    .addHelpText("after", examples("dat train --job 1 --data my.csv --no-push && dat push --job 1"))
    .action(action(async (ctx, opts: { job: string }) => {
      const { push } = await import("./push.js");
      await push(ctx, opts);
    }));
}
