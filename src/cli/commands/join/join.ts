/** `dat join <orchestrator-url>`: one service call, then what to do next. */
import type { CliContext } from "../../context.js";

export async function join(ctx: CliContext, url: string): Promise<void> {
  const { joinNetwork } = await import("../../../contributor/join.js");
  const spinner = await ctx.out.spinner(`reading the network at ${url}…`);
  const result = await joinNetwork({ home: ctx.home, url, rpcUrl: ctx.rpcUrl }).catch((error) => {
    spinner.fail();
    throw error;
  });
  spinner.stop();
  const job = result.jobs.find((j) => j.publishedRounds < j.rounds) ?? result.jobs[0];
  ctx.out.result(result, (r, c) => [
    c.green(`Joined the network at ${r.orchestratorUrl} (chain ${r.chainId}).`),
    `rpc:          ${r.rpcUrl}`,
    `token:        ${r.contracts.token}`,
    `distributor:  ${r.contracts.distributor}`,
    `jobs:         ${r.jobs.length === 0 ? "none yet" : r.jobs.map((j) => `${j.id}${j.name ? ` (${j.name})` : ""} ${j.publishedRounds}/${j.rounds} rounds`).join(", ")}`,
    "",
    "Next:",
    `  1. fund gas for this address (the operator, on a devnet: dat devnet fund --address <your address>)`,
    `  2. stake and register: dat node register${r.contracts.staking ? " --stake 10" : ""}`,
    `  3. train every round: dat train --job ${job?.id ?? "<id>"} --data <your data> --follow`,
  ]);
}
