/**
 * `dat round watch --job <id>`: a job's round events as they happen — from `dat serve`'s stream
 * (--orchestrator / orchestrator.url) or from this home's database. One line per event; with
 * --json one JSON object per line on stdout. Runs until Ctrl-C, or until the first event of the
 * type given with --until.
 */
import { configOptions, type CliContext } from "../../context.js";
import { UsageError } from "../../../core/errors.js";
import { parseJobId } from "../job/show.js";
import type { RoundEvent, RoundEventSource } from "../../../orchestrator/events.js";

/** One human line for an event (also what `dat round start` prints). */
export function eventLine(e: RoundEvent): string {
  const d = e.data as Record<string, unknown>;
  const head = `${new Date(e.at).toISOString().slice(11, 19)} job ${e.jobId} round ${e.round}`;
  switch (e.type) {
    case "round.opened":
      return `${head} opened (deadline ${new Date(Number(d.deadline)).toISOString().slice(11, 19)})`;
    case "submission.accepted":
      return `${head} submission accepted from ${String(d.address)} (${String(d.sampleCount)} samples, ${String(d.accepted)} in the round)`;
    case "submission.rejected":
      return `${head} submission rejected from ${String(d.address ?? "?")}: ${String(d.code)} ${String(d.message ?? "")}`.trimEnd();
    case "round.closed":
      return `${head} closed, aggregating`;
    case "round.aggregated": {
      const m = (d.metrics ?? {}) as Record<string, unknown>;
      const acc = typeof m.accuracy === "number" ? `, accuracy ${(m.accuracy * 100).toFixed(1)}%` : "";
      const loss = typeof m.loss === "number" ? `, loss ${m.loss.toFixed(4)}` : "";
      return `${head} aggregated: model ${String(d.modelCid)}${loss}${acc}`;
    }
    case "round.failed":
      return `${head} failed: ${String(d.reason)}`;
    case "round.published":
      return `${head} published on chain: ${d.txHash ? `tx ${String(d.txHash)}` : "found already on chain (transaction not recorded in this home)"}`;
    default:
      return `${head} ${String(e.type)}`;
  }
}

/** The event source of this invocation: the orchestrator's stream, else the home's database. */
export async function eventSource(ctx: CliContext): Promise<{ source: RoundEventSource; close: () => Promise<void> }> {
  const { loadConfig } = await import("../../../config/index.js");
  const config = (await loadConfig(configOptions(ctx))).values;
  const url = ctx.orchestrator ?? config.orchestrator.url;
  if (url) return { source: { kind: "http", url }, close: async () => {} };
  const [{ openDatabase }, { RoundEventBus }] = await Promise.all([import("../../../db/index.js"), import("../../../orchestrator/events.js")]);
  const db = openDatabase(ctx.home);
  return { source: { kind: "bus", bus: new RoundEventBus(db) }, close: async () => { db.close(); } };
}

export async function roundWatch(ctx: CliContext, opts: { job: string; after?: string; until?: string }): Promise<void> {
  const jobId = parseJobId(opts.job, "--job");
  const { ROUND_EVENT_TYPES, watchRoundEvents } = await import("../../../orchestrator/events.js");
  if (opts.until !== undefined && !(ROUND_EVENT_TYPES as readonly string[]).includes(opts.until)) {
    throw new UsageError(`--until must be one of ${ROUND_EVENT_TYPES.join(", ")}, got "${opts.until}".`);
  }
  let after: number | undefined;
  if (opts.after !== undefined) {
    if (!/^\d{1,15}$/.test(opts.after)) throw new UsageError(`--after must be an event id (a non-negative integer), got "${opts.after}".`);
    after = Number(opts.after);
  }
  const { source, close } = await eventSource(ctx);
  if (source.kind === "bus") {
    // An unknown job is an error here too, not an endless silent watch.
    const { openOrchestrator } = await import("../../orchestrator.js");
    const orch = await openOrchestrator(ctx);
    try {
      await orch.getJob(jobId);
    } finally {
      await orch.close();
    }
  }
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  let count = 0;
  try {
    ctx.out.info(`watching job ${jobId}${source.kind === "http" ? ` at ${source.url}` : ""} (Ctrl-C to stop)`);
    await watchRoundEvents(source, {
      jobId, after, signal: controller.signal,
      onEvent: (e) => {
        count++;
        if (ctx.json) process.stdout.write(JSON.stringify(e) + "\n");
        else process.stdout.write(eventLine(e) + "\n");
        if (opts.until && e.type === opts.until) controller.abort();
      },
      onReconnect: (r) => ctx.out.warn(`event stream lost (${r.error}); reconnecting in ${(r.inMs / 1000).toFixed(1)}s`),
    });
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    await close();
  }
  ctx.out.info(`${count} event(s)`);
}

/**
 * Echoes a job's new round events while a command waits (`dat round start`): each event's line
 * goes to `show`, and under --json it is an event line on stderr. Returns the stop function.
 */
export async function echoRoundEvents(ctx: CliContext, jobId: number, show: (line: string) => void): Promise<() => Promise<void>> {
  const { watchRoundEvents } = await import("../../../orchestrator/events.js");
  const { source, close } = await eventSource(ctx);
  const controller = new AbortController();
  const running = watchRoundEvents(source, {
    jobId, signal: controller.signal,
    onEvent: (e) => {
      ctx.out.event("round-event", { ...e });
      if (!ctx.json) show(eventLine(e));
    },
  }).catch(() => undefined);
  return async () => {
    controller.abort();
    await running;
    await close();
  };
}
