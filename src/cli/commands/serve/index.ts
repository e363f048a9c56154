import type { Command } from "commander";
import { action, examples } from "../../context.js";

export function registerServe(program: Command): void {
  program.command("serve").description("Run the orchestrator as an HTTP API for remote contributors (Ctrl-C stops)")
    .option("--host <host>", "interface to listen on (default: config serve.host)")
    .option("--port <port>", "port (default: config serve.port; 0 picks a free one)")
    .option("--onchain", "accept only nodes registered in the on-chain NodeRegistry (default: config orchestrator.requireOnchain)")
    .addHelpText("after", examples(
      "dat serve --port 8780", "dat serve --onchain", "DAT_OPERATOR_TOKEN=… dat serve --host 0.0.0.0",
      "dat config set orchestrator.maxNodesPerIp 64   # free registrations per IP (also maxNodes, registrationsPerMinute)",
    ))
    .action(action(async (ctx, opts: { host?: string; port?: string; onchain?: boolean }) => {
      const { serve } = await import("./serve.js");
      await serve(ctx, opts);
    }));
}
