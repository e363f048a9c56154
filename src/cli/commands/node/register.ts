/** `dat node register`. */
import os from "node:os";
import type { CliContext } from "../../context.js";

export async function nodeRegister(ctx: CliContext, opts: { backend?: string }): Promise<void> {
  const { loadConfig } = await import("../../../config/index.js");
  const { unlockAccount } = await import("../../unlock.js");
  const { buildRegistration } = await import("../../../orchestrator/submission.js");
  const { connectOrchestrator } = await import("../../../orchestrator/connect.js");
  const backend = opts.backend ?? (await loadConfig(ctx)).values.train.backend;
  const account = await unlockAccount(ctx);
  const metadata = {
    platform: process.platform, arch: process.arch, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? "unknown",
    memoryBytes: os.totalmem(), node: process.version,
  };
  const registration = await buildRegistration(account, backend, metadata);
  const orch = await connectOrchestrator(ctx);
  try {
    const node = await orch.registerNode(registration);
    ctx.out.result(node, (n) => [`registered ${n.address} (${backend}, ${metadata.cpus} CPUs)`]);
  } finally {
    await orch.close();
  }
}
