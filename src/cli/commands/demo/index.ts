import type { Command } from "commander";
import { action, examples } from "../../context.js";
import type { RawDemoOptions } from "../../../demo/options.js";

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("Run the whole network on this machine: a local chain, an orchestrator, contributors training on private shards, rewards paid on-chain, gated inference")
    .option("--contributors <n>", "contributors, each with its own wallet and data shard (default 3)")
    .option("--rounds <n>", "federated rounds (default 3)")
    .option("--strategy <name>", "aggregation: fedavg|fedprox|fedavgm|fedadam|median|trimmed-mean|krum|multi-krum (default fedavg)")
    .option("--strategy-param <k=v>", "strategy parameter, repeatable (e.g. beta=0.2)", collect)
    .option("--encoding <spec>", "delta encoding: float32|float16|int8|int8:<block>|topk:<fraction> (default float32)")
    .option("--partition <scheme>", "how the data is split: iid|dirichlet:<alpha>|shards:<k> (default iid)")
    .option("--epochs <n>", "local epochs per round (default 2)")
    .option("--batch-size <n>", "local batch size (default 32)")
    .option("--lr <x>", "local learning rate (default 0.1)")
    .option("--seed <n>", "seed for data, split and training (default 7)")
    .option("--attackers <k>", "contributors that send poisoned updates (default 0)")
    .option("--attack <kind>", "sign-flip[:factor]|scale[:factor]|free-ride|copy|zero|noise (default sign-flip)")
    .option("--attack-samples <n>", "the sample count every attacker claims (default: its shard's size)")
    .option("--dp-clip <x>", "clip each delta to this L2 norm")
    .option("--dp-noise <x>", "Gaussian noise multiplier (needs --dp-clip)")
    .option("--data <path>", "a data set the loaders read (CSV, JSONL, IDX, image folder) instead of generated digits")
    .option("--label-column <name>", "label column of a CSV or JSONL --data")
    .option("--test <path>", "the operator's validation set (default: --test-split of --data)")
    .option("--test-split <f>", "fraction of the data held out for validation (default 0.2)")
    .option("--model <dir>", "a tfjs model folder (default: a built-in model fitted to the data)")
    .option("--samples <n>", "examples in the generated data set (default 2400)")
    .option("--reward <amount>", "DAT paid per round, split by contribution score (default 100)")
    .option("--report <file.html>", "also write a self-contained HTML report")
    .option("--keep", "keep the temporary homes and print where they are")
    .option("--threads <n>", "worker threads for each contributor's training on wasm (default: all cores, for runs long enough to repay them)")
    .addHelpText(
      "after",
      examples(
        "dat demo",
        "dat demo --rounds 5 --contributors 4 --partition dirichlet:0.5",
        "dat demo --attackers 1 --attack scale:20 --strategy median",
        "dat demo --data ./measurements.csv --label-column class --test-split 0.25",
        "dat --json demo --rounds 2 > demo.json",
        "dat demo --report demo.html",
      ),
    )
    .action(
      action(async (ctx, opts: RawDemoOptions & { report?: string }) => {
        const { demo } = await import("./demo.js");
        await demo(ctx, opts);
      }),
    );
}
