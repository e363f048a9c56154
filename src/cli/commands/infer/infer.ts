import { configOptions, type CliContext } from "../../context.js";
import { formatAddress } from "../../format.js";
import { formatTable } from "../../output.js";
import { UsageError } from "../../../core/errors.js";
import type { InferResult } from "../../../inference/engine.js";

export interface InferCommandOptions {
  job: string;
  input: string[];
  format?: string;
  local?: boolean;
}

export async function infer(ctx: CliContext, opts: InferCommandOptions): Promise<void> {
  const { parseJobId } = await import("../../../inference/jobs.js");
  parseJobId(opts.job);
  if (opts.input.length === 0) throw new UsageError("--input needs at least one file.", { code: "USAGE" });
  const { loadConfig } = await import("../../../config/index.js");
  const { readInputFiles, inferLocal, inferRemote } = await import("../../../inference/service.js");
  const { unlockAccount } = await import("../../unlock.js");
  const config = (await loadConfig(configOptions(ctx))).values;
  const files = readInputFiles(opts.input, opts.format as never);
  const getAccount = () => unlockAccount(ctx);
  const url = config.orchestrator.url;
  let result: InferResult;
  if (url && !opts.local) {
    result = await inferRemote({ url, jobId: opts.job, files, getAccount, timeoutMs: config.infer.timeoutMs + 5000 });
  } else {
    result = await inferLocal({ home: ctx.home, config, jobId: opts.job, files, getAccount, keyServiceUrl: opts.local ? url : undefined });
  }
  ctx.out.result(result, (r) => {
    const width = Math.max(...r.predictions.map((p) => p.probabilities.length));
    const lines = formatTable(
      ["input", "class", ...Array.from({ length: width }, (_, k) => `p(${k})`)],
      r.predictions.map((p) => [p.source, p.class, ...p.probabilities.map((x) => x.toFixed(4))]),
    );
    return [...lines, `job ${r.jobId} · model ${r.modelCid} (round ${r.round})${r.address ? ` · as ${formatAddress(r.address)}` : ""}`];
  });
}
