import type { Command } from "commander";
import { action, examples } from "../../context.js";

export function registerDoctor(program: Command): void {
  program
    .command("doctor")
    .description("Check this machine and home: Node, tfjs backends, GPU, home, database, chain RPC, orchestrator")
    .addHelpText(
      "after",
      examples("dat doctor", "dat --json doctor", "dat doctor --allow-software-gpu") + "\nExits 0 when everything configured works, 7 when a check failed.\n",
    )
    .option("--allow-software-gpu", "count a software WebGPU adapter (lavapipe, SwiftShader) as usable (default: config train.allowSoftwareGpu)")
    .action(
      action(async (ctx, opts: { allowSoftwareGpu?: boolean }) => {
        const { doctor } = await import("./doctor.js");
        await doctor(ctx, opts);
      }),
    );
}
