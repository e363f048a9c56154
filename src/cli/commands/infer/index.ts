import type { Command } from "commander";
import { action, examples } from "../../context.js";

export function registerInfer(program: Command): void {
  program
    .command("infer")
    .description("Predict with a job's model (token-gated: holders of the job's gate token only)")
    .requiredOption("--job <id>", "job id")
    .requiredOption("--input <file...>", "input file(s): .json (one input or an array), .jsonl, .csv with the job's columns, .png, or a folder of PNGs")
    .option("--format <format>", "input format when the file name does not say: json, jsonl, csv, png, idx")
    .option("--local", "run the model on this machine (with --orchestrator: its key service releases the model key)")
    .addHelpText(
      "after",
      examples(
        "dat infer --job 1 --input samples.json",
        "dat infer --job 1 --input rows.csv --orchestrator http://127.0.0.1:8780",
        "dat infer --job 1 --input digit.png --orchestrator http://host:8780 --local",
        "dat --json infer --job 1 --input rows.jsonl",
      ) + "\nWithout enough gate tokens the command exits with code 5 and says the balance held and required.\n",
    )
    .action(
      action(async (ctx, opts: { job: string; input: string[]; format?: string; local?: boolean }) => {
        const { infer } = await import("./infer.js");
        await infer(ctx, opts);
      }),
    );
}
