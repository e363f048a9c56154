import type { Command } from "commander";
import { action, examples } from "../../context.js";
import type { JobCreateOptions } from "./create.js";
import type { JobReportOptions } from "./report.js";

export function registerJob(program: Command): void {
  const job = program.command("job").description("Create and inspect federated training jobs");
  const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
  job.command("create").description("Create a job from a tfjs model folder (operator)")
    .requiredOption("--model <dir>", "initial model folder (model.json + weights)")
    .requiredOption("--rounds <n>", "number of rounds to publish")
    .requiredOption("--min-contributors <n>", "valid submissions needed to close a round")
    .option("--max-contributors <n>", "close as soon as this many arrived; later ones are refused")
    .option("--deadline <duration>", "round deadline (90s, 10m, 2h)", "10m")
    .option("--epochs <n>", "local epochs per round", "1")
    .option("--batch-size <n>", "local batch size", "32")
    .option("--lr <x>", "local learning rate", "0.01")
    .option("--optimizer <name>", "sgd | adam", "sgd")
    .option("--strategy <name>", "fedavg|fedprox|fedavgm|fedadam|median|trimmed-mean|krum|multi-krum|centered-clip, or robust (= centered-clip, recommended under attack)", "fedavg")
    .option("--strategy-param <k=v>", "strategy parameter (repeatable)", collect)
    .option("--dp-clip <x>", "L2 clipping bound of each delta")
    .option("--dp-noise <x>", "Gaussian noise multiplier (σ = noise × clip)")
    .option("--encoding <enc>", "float32 | float16 | int8 | topk:F", "float32")
    .option("--reward <amount>", "reward per round in whole tokens (18 decimals; e.g. 100, 2.5, or 1000wei for base units)", "0")
    .option("--validation <path>", "validation CSV on the orchestrator's machine")
    .option("--label-column <name>", "label column of the validation CSV")
    .option("--normalize <kind>", "the job's preprocessing: none | scale:<k> | minmax | zscore (statistics from --validation)", "none")
    .option("--normalize-stats <json>", "statistics for minmax/zscore from a file instead of --validation")
    .option("--gate-token <address>", "ERC-20 gating inference (default: the deployed DatToken)")
    .option("--gate-min <amount>", "minimum gate-token balance in whole tokens (e.g. 1, 0.5, or 1000wei; default: 1 token; 0 = public); above 0 needs --min-stake")
    .option("--encrypt-model", "store published models encrypted")
    .option("--min-stake <amount>", "stake (whole tokens, like --reward) a contributor must hold in the job when a round opens; needs a chain (without it the job is for a trusted group)")
    .option("--max-samples <n>", "cap on a submission's claimed sample count as aggregation weight (weights are also capped at 2 × the round's median claim)")
    .option("--name <name>", "a name for the job")
    .addHelpText("after", examples("dat job create --model ./model --rounds 5 --min-contributors 3 --validation val.csv --label-column label"))
    .action(action(async (ctx, opts: JobCreateOptions) => {
      const { jobCreate } = await import("./create.js");
      await jobCreate(ctx, opts);
    }));
  job.command("list").description("List jobs")
    .action(action(async (ctx) => {
      const { jobList } = await import("./list.js");
      await jobList(ctx);
    }));
  job.command("show").description("Show a job, its settings and its learning curve").argument("<id>", "job id")
    .action(action(async (ctx, _opts: object, args) => {
      const { jobShow } = await import("./show.js");
      await jobShow(ctx, args[0]);
    }));
  job.command("report").description("A job's rounds from the operator's database: curve, contributors, rewards, slashes; --html writes a report file")
    .requiredOption("--job <id>", "job id")
    .option("--html <file>", "write a self-contained HTML report (learning curve, contributors and rewards per round, model CIDs, slashes)")
    .addHelpText("after", examples("dat job report --job 1 --html job-1.html"))
    .action(action(async (ctx, opts: JobReportOptions) => {
      const { jobReport } = await import("./report.js");
      await jobReport(ctx, opts);
    }));
}
