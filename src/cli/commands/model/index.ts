import type { Command } from "commander";
import { action, examples } from "../../context.js";

export function registerModel(program: Command): void {
  const model = program.command("model").description("Fetch global models");
  model.command("pull").description("Fetch the job's current global model, verify its CID, save it as a tfjs folder")
    .requiredOption("--job <id>", "job id")
    .addHelpText("after", examples("dat model pull --job 1"))
    .action(action(async (ctx, opts: { job: string }) => {
      const { modelPull } = await import("./pull.js");
      await modelPull(ctx, opts);
    }));
}
