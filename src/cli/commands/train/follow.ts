/**
 * `dat train --job <id> --follow`: unlock the wallet first (before any wait), then follow the job:
 * one line per round in human mode, one JSON event line per step on stderr with --json, and the
 * summary as the result. Ctrl-C finishes the round in progress; a second Ctrl-C quits at once.
 */
import fs from "node:fs";
import os from "node:os";
import { configOptions, type CliContext } from "../../context.js";
import { stopOnInterrupt } from "../../interrupt.js";
import { NotFoundError, UsageError, UserError } from "../../../core/errors.js";
import type { FollowEvent } from "../../../contributor/follow.js";

/** The checked `dat train` flags that following uses (train.ts's ParsedTrainOptions fits). */
export interface FollowTrainOptions {
  jobId?: number;
  dataPath?: string;
  labelColumn?: string;
  normalize: "none" | "minmax" | "zscore";
  epochs?: number;
  batchSize?: number;
  valSplit: number;
  seed: number;
  backend?: "auto" | "gpu" | "native" | "webgpu" | "wasm" | "cpu";
  allowSoftwareGpu?: boolean;
  threads?: number;
  push: boolean;
}

export async function trainFollow(ctx: CliContext, parsed: FollowTrainOptions): Promise<void> {
  if (parsed.jobId === undefined) throw new UsageError("--follow needs --job <id>.", { code: "USAGE" });
  if (!parsed.push) throw new UsageError("--follow pushes every round: drop --no-push.", { code: "USAGE" });
  if (!parsed.dataPath) throw new UserError("Pass --data <path>: the local data to train on.", { code: "USAGE" });
  if (!fs.existsSync(parsed.dataPath)) {
    throw new NotFoundError(`No data at ${parsed.dataPath}.`, { code: "DATA_NOT_FOUND", hint: "Pass --data with a file or folder that exists." });
  }
  const jobId = parsed.jobId;
  const { loadConfig } = await import("../../../config/index.js");
  const config = (await loadConfig(configOptions(ctx))).values;
  const account = await (await import("../../unlock.js")).unlockAccount(ctx);
  const [{ openOrchestrator }, { followJob }] = await Promise.all([import("../../orchestrator.js"), import("../../../contributor/follow.js")]);
  const orch = await openOrchestrator(ctx, config);
  // The job's round events wake the follower when a round opens; it polls when they are lost.
  const events = await (await import("../round/watch.js")).eventSource(ctx);
  const interrupt = stopOnInterrupt(ctx, "round");
  try {
    const result = await followJob(orch, {
      home: ctx.home, jobId, dataPath: parsed.dataPath, labelColumn: parsed.labelColumn, normalize: parsed.normalize,
      epochs: parsed.epochs, batchSize: parsed.batchSize, valSplit: parsed.valSplit, seed: parsed.seed, backend: parsed.backend,
      allowSoftwareGpu: parsed.allowSoftwareGpu, threads: parsed.threads, account,
      backendLabel: parsed.backend ?? config.train.backend,
      metadata: { platform: process.platform, arch: process.arch, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? "unknown", memoryBytes: os.totalmem(), node: process.version },
      signal: interrupt.signal, events: events.source,
      onEvent: (e) => render(ctx, e),
    });
    ctx.out.result(result, (r) => [
      r.reason === "job-complete"
        ? `job ${r.jobId} complete; this node contributed to round(s) ${r.roundsContributed.join(", ") || "none"}`
        : `stopped; this node contributed to round(s) ${r.roundsContributed.join(", ") || "none"} of job ${r.jobId}`,
    ]);
  } finally {
    interrupt.dispose();
    await orch.close();
    await events.close();
  }
}

function render(ctx: CliContext, e: FollowEvent): void {
  const { type, ...data } = e;
  ctx.out.event(`follow.${type}`, data);
  if (ctx.json) return;
  switch (e.type) {
    case "registered":
      if (!e.heartbeat) ctx.out.info(`registered ${e.address}; waiting for rounds of the job`);
      break;
    case "waiting":
      ctx.out.info(e.afterRound === 0 ? `job ${e.jobId}: waiting for a round to open…` : `job ${e.jobId}: waiting for round ${e.afterRound + 1}…`);
      break;
    case "round-pushed":
      ctx.out.info(`round ${e.round}: trained ${e.sampleCount} samples (loss ${e.loss.toFixed(4)}), pushed ${e.blobCid} (${e.accepted} in the round)`);
      break;
    case "round-skipped":
      ctx.out.warn(`round ${e.round} skipped: ${e.message}`);
      break;
    case "stream":
      if (e.state === "down") ctx.out.info(`event stream lost (${e.message ?? "no reason"}); asking the orchestrator every few seconds until it is back`);
      break;
    case "retry":
      ctx.out.warn(`${e.what}: ${e.message} — retrying in ${(e.inMs / 1000).toFixed(1)}s`);
      break;
    default:
      break;
  }
}
