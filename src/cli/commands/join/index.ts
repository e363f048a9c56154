import type { Command } from "commander";
import { action, examples } from "../../context.js";

export function registerJoin(program: Command): void {
  program.command("join").description("Join a network: record its chain, contracts and orchestrator in this home's config")
    .argument("<orchestrator-url>", "the address `dat serve` printed, e.g. http://host:8780")
    .addHelpText("after", examples("dat join http://10.0.0.5:8780", "dat join http://10.0.0.5:8780 --rpc-url http://10.0.0.5:8545"))
    .action(action(async (ctx, _opts: object, args: string[]) => {
      const { join } = await import("./join.js");
      await join(ctx, args[0]);
    }));
}
