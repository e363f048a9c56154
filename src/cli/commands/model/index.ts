import type { Command } from "commander";
import { action, examples } from "../../context.js";
import type { ModelEvalCommandOptions } from "./eval.js";
import type { ModelInitCommandOptions } from "./init.js";

export function registerModel(program: Command): void {
  const model = program.command("model").description("Make, evaluate and fetch models");
  model.command("pull").description("Fetch the job's current global model, verify its CID, save it as a tfjs folder")
    .requiredOption("--job <id>", "job id")
    .addHelpText("after", examples("dat model pull --job 1"))
    .action(action(async (ctx, opts: { job: string }) => {
      const { modelPull } = await import("./pull.js");
      await modelPull(ctx, opts);
    }));
  model.command("init").description("Write a new (untrained) classifier as a tfjs Layers model folder")
    .argument("<dir>", "folder to write model.json + weights.bin into")
    .option("--template <name>", "mlp or cnn (default: cnn for image inputs, mlp for flat rows)")
    .option("--inputs <shape>", "one sample's input shape: 64 (features) or 28x28x1 (height x width x channels)")
    .option("--classes <k>", "number of classes (≥ 2)")
    .option("--hidden <list>", "mlp: hidden units per layer (default 64); cnn: 3×3 conv filters per layer (default 8,16)")
    .option("--seed <n>", "seed of the initial weights", "42")
    .option("--from-data <file>", "read the input shape and classes (largest label + 1) from a data file")
    .option("--label-column <name>", "with --from-data on a CSV: the label column")
    .option("--force", "overwrite a model already in <dir>")
    .addHelpText("after", examples(
      "dat model init ./model --inputs 64 --classes 10 --hidden 64,32",
      "dat model init ./model --template cnn --inputs 28x28x1 --classes 10",
      "dat model init ./model --from-data ./train.csv --label-column label",
    ))
    .action(action(async (ctx, opts: ModelInitCommandOptions, args) => {
      const { modelInit } = await import("./init.js");
      await modelInit(ctx, args[0], opts);
    }));
  model.command("eval").description("Accuracy, loss and per-class precision/recall of a model on labelled data")
    .option("--model <dir>", "tfjs Layers model folder")
    .option("--job <id>", "the job's current global model (pulled and verified as dat model pull does)")
    .requiredOption("--data <path>", "labelled data: .csv, .jsonl, IDX images file or folder, or a PNG folder")
    .option("--label-column <name>", "CSV label column (default: \"label\", else the last column)")
    .option("--normalize <mode>", "with --model: none (default), scale:<k> (divide by k), or minmax / zscore (CSV, statistics of this data); --job applies the job's preprocessing")
    .option("--rows", "include every row's predicted class (predictions) in the result")
    .option("--batch-size <n>", "samples per forward pass", "256")
    .addHelpText("after", examples(
      "dat model eval --model ./model --data ./test.csv --label-column label",
      "dat model eval --job 1 --data /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
    ))
    .action(action(async (ctx, opts: ModelEvalCommandOptions) => {
      const { modelEval } = await import("./eval.js");
      await modelEval(ctx, opts);
    }));
}
