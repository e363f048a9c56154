import type { Command } from "commander";
import { action, examples } from "../../context.js";
import type { TrainCommandOptions } from "./train.js";

export function registerTrain(program: Command): void {
  program
    .command("train")
    .description("Train a model on local data (a job's global model with --job, or a model folder)")
    .option("--job <id>", "train the job's current global model and push the result (hyper-parameters come from the job)")
    .option("--model <dir>", "tfjs Layers model folder (model.json + weights)")
    .option("--data <path>", "data: .csv, .jsonl, IDX images file or folder, or a folder of PNGs in one sub-folder per class")
    .option("--label-column <name>", "CSV label column (default: \"label\", else the last column)")
    .option("--normalize <mode>", "CSV feature normalisation: none (default), minmax or zscore; with --job the job's preprocessing runs and this may only restate it")
    .option("--epochs <n>", "local epochs (with --job: at most the job's)")
    .option("--batch-size <n>", "batch size (with --job: at most the job's)")
    .option("--lr <x>", "learning rate")
    .option("--optimizer <name>", "sgd or adam")
    .option("--mu <x>", "FedProx proximal term μ (0: plain local training)")
    .option("--val-split <f>", "fraction of the local data held out for evaluation", "0.1")
    .option("--backend <name>", "auto, gpu, native, webgpu, wasm or cpu (default: config train.backend)")
    .option("--allow-software-gpu", "let --backend webgpu train on a software adapter (lavapipe, SwiftShader; default: config train.allowSoftwareGpu)")
    .option("--seed <n>", "seed for the shuffle and the validation split", "1")
    .option("--threads <n>", "worker threads for data-parallel training on wasm (default: all cores, for runs long enough to repay them)")
    .option("--no-push", "with --job: train and keep the result without pushing it")
    .option("--follow", "with --job: stay up, train and push every round until the job ends (Ctrl-C stops after the current round)")
    .option("--resume", "continue the last run stopped with Ctrl-C")
    .addHelpText(
      "after",
      examples(
        "dat train --job 1 --data ./my-data.csv",
        "dat train --job 1 --data ./my-data.csv --follow",
        "dat train --model fixtures/cnn-digits --data ./digits-images-idx3-ubyte.gz --epochs 2 --backend wasm",
        "dat train --model fixtures/mlp-tabular --data ./table.csv --label-column species --normalize zscore",
        "dat train --resume",
      ) + "\nCtrl-C stops after the current batch and keeps a checkpoint; `dat train --resume` continues it.\n",
    )
    .action(
      action(async (ctx, opts: TrainCommandOptions) => {
        const { train } = await import("./train.js");
        await train(ctx, opts);
      }),
    );
}
