/**
 * The commander program. Each command group registers itself from its own folder under
 * commands/; group files import only commander and load their implementation lazily, so that
 * `dat --help` never loads tfjs, viem, hardhat or the Lighthouse SDK.
 */
import { Command, Option } from "commander";
import { registerInit } from "./commands/init/index.js";
import { registerConfig } from "./commands/config/index.js";
import { registerDoctor } from "./commands/doctor/index.js";
import { registerDevnet } from "./commands/devnet/index.js";
import { registerChain } from "./commands/chain/index.js";
import { registerRewards } from "./commands/rewards/index.js";
import { registerDemo } from "./commands/demo/index.js";
import { registerInfer } from "./commands/infer/index.js";
import { registerTrain } from "./commands/train/index.js";
import { registerJob } from "./commands/job/index.js";
import { registerRound } from "./commands/round/index.js";
import { registerNode } from "./commands/node/index.js";
import { registerModel } from "./commands/model/index.js";
import { registerPush } from "./commands/push/index.js";
import { registerServe } from "./commands/serve/index.js";
import { registerJoin } from "./commands/join/index.js";

export const VERSION = "0.1.0";

export function buildProgram(): Command {
  const program = new Command("dat")
    .description("Decentralized federated training: train locally, push sealed deltas, aggregate rounds, get paid on-chain.")
    .version(VERSION, "-V, --version")
    .option("--home <dir>", "dat home folder (default: $DAT_HOME, else ~/.dat)")
    .option("--json", "print exactly one JSON document on stdout; logs go to stderr")
    .option("-q, --quiet", "print only results and errors")
    .option("-y, --yes", "never prompt (implied by --json and by a non-interactive stdin)")
    .option("--orchestrator <url>", "orchestrator URL (default: the embedded orchestrator in --home)")
    .option("--rpc-url <url>", "EVM JSON-RPC URL (default: from config)")
    .addOption(new Option("--no-color", "disable colour (same as NO_COLOR=1)").hideHelp())
    .showHelpAfterError("(run with --help for usage)")
    .enablePositionalOptions(false);

  registerInit(program);
  registerJoin(program);
  registerConfig(program);
  registerDoctor(program);
  registerDevnet(program);
  registerChain(program);
  registerRewards(program);
  registerDemo(program);
  registerInfer(program);
  registerTrain(program);
  registerJob(program);
  registerRound(program);
  registerNode(program);
  registerModel(program);
  registerPush(program);
  registerServe(program);
  return program;
}
