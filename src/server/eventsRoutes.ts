/**
 * GET /jobs/:id/events — a job's round events as Server-Sent Events (text/event-stream).
 *
 * Each event is `id: <n>`, `event: <type>` (round.opened, submission.accepted,
 * submission.rejected, round.closed, round.aggregated, round.failed, round.published) and
 * `data: <JSON { id, type, jobId, round, at, data }>`. Ids grow; a client that reconnects with
 * `Last-Event-ID: <n>` (or `?after=<n>`) gets every event after n, from the database, also across
 * a restart of the server. Without either, the stream starts with the next event
 * (`?after=0` replays the job's whole history first).
 *
 * Events come from the home's database (see src/orchestrator/events.ts): in-process emits wake
 * the stream at once; a short poll carries the events that another process of the same home
 * wrote (`dat round start` runs in the operator's home).
 *
 * Who may read it: anyone, like GET /jobs/:id and GET /jobs/:id/rounds/current. What a job's
 * events carry is either published on chain when the round settles (contributor addresses and
 * rewards in the reward tree, slashes, the model CID and the transaction) or what every
 * contributor needs to take part (the round opened, its deadline and base model); followers and
 * `dat round watch` on a contributor's machine read it without the operator's token, and a signed
 * session per reader (as gated model downloads use) would protect nothing the chain does not
 * show. What does need protecting is the server: a stream holds a socket, two timers and a
 * database read per event for as long as the client stays, so open streams are capped per client
 * IP and in total (429 EVENT_STREAMS_LIMIT with Retry-After; clients back off and retry), and the
 * route's connects count against the app's per-IP rate limit.
 */
import type { FastifyInstance } from "fastify";
import type { ServerResponse } from "node:http";
import { z } from "zod";
import { DeniedError, MalformedInputError, NotFoundError } from "../core/errors.js";
import { parseOrThrow } from "../orchestrator/schemas.js";
import type { RoundEventBus } from "../orchestrator/events.js";
import type { Orchestrator } from "../orchestrator/types.js";
import { lastRoundEventId } from "../db/roundEvents.js";
import type Database from "better-sqlite3";

export interface EventsRoutesOptions {
  orchestrator: Orchestrator;
  /** How often the database is read for events of other processes, ms. */
  pollMs?: number;
  /** A comment line keeps idle connections (and proxies) open, ms. */
  keepAliveMs?: number;
  /** Open streams one client IP may hold at once (default 8). */
  maxStreamsPerIp?: number;
  /** Open streams in total (default 256). */
  maxStreams?: number;
}

const idParam = z.object({ id: z.coerce.number().int().positive() });
const eventId = z.string().regex(/^\d{1,15}$/, "must be a non-negative integer").transform(Number);

/** Adds GET /jobs/:id/events to `app`. */
export function eventsRoutes(app: FastifyInstance, options: EventsRoutesOptions): void {
  const orch = options.orchestrator as Orchestrator & { events?: RoundEventBus; db?: Database.Database };
  const open = new Set<ServerResponse>();
  const perIp = new Map<string, number>();
  const maxPerIp = options.maxStreamsPerIp ?? 8;
  const maxTotal = options.maxStreams ?? 256;
  // SSE connections never go idle: end them first, or closing the server waits on them forever.
  app.addHook("preClose", (done) => {
    for (const res of open) res.end();
    done();
  });

  app.get("/jobs/:id/events", async (req, reply) => {
    const { id } = parseOrThrow(idParam, req.params, "path");
    const bus = orch.events;
    if (!bus || !orch.db) throw new NotFoundError("This server does not record round events.", { code: "ROUTE_NOT_FOUND" });
    await orch.getJob(id); // unknown job: 404 before the stream starts
    const header = req.headers["last-event-id"];
    const rawAfter = typeof header === "string" && header !== "" ? header : (req.query as { after?: unknown } | undefined)?.after;
    let after: number;
    if (rawAfter === undefined) {
      after = lastRoundEventId(orch.db, id);
    } else {
      const parsed = eventId.safeParse(rawAfter);
      if (!parsed.success) {
        throw new MalformedInputError(`Last-Event-ID / after must be an event id (a non-negative integer), got "${String(rawAfter).slice(0, 40)}".`, {
          code: "MALFORMED_REQUEST",
        });
      }
      after = parsed.data;
    }

    // Checked last, just before the stream takes its slot: a refused or malformed request holds none.
    const ip = req.ip;
    const mine = perIp.get(ip) ?? 0;
    if (mine >= maxPerIp || open.size >= maxTotal) {
      void reply.header("retry-after", "5");
      throw Object.assign(
        new DeniedError(
          mine >= maxPerIp
            ? `Too many event streams from ${ip}: at most ${maxPerIp} open at once.`
            : `This server has ${maxTotal} event streams open, its limit.`,
          { code: "EVENT_STREAMS_LIMIT", hint: "Close a `dat round watch` or follower of this machine, or retry in a few seconds.", data: { limit: mine >= maxPerIp ? maxPerIp : maxTotal } },
        ),
        { statusCode: 429 },
      );
    }
    perIp.set(ip, mine + 1);

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    res.write(": dat round events\nretry: 1000\n\n");
    open.add(res);
    let flushing = false;
    const flush = (): void => {
      if (flushing || res.writableEnded) return;
      flushing = true;
      try {
        for (const e of bus.since(id, after)) {
          after = e.id;
          res.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
        }
      } catch {
        // The database is closing with the server; the client reconnects with its last id.
      } finally {
        flushing = false;
      }
    };
    flush();
    const unsubscribe = bus.subscribe((e) => {
      if (e.jobId === id) flush();
    });
    const poll = setInterval(flush, options.pollMs ?? 250);
    const keepAlive = setInterval(() => res.write(": ping\n\n"), options.keepAliveMs ?? 15_000);
    let stopped = false;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      clearInterval(poll);
      clearInterval(keepAlive);
      unsubscribe();
      open.delete(res);
      const left = (perIp.get(ip) ?? 1) - 1;
      if (left > 0) perIp.set(ip, left);
      else perIp.delete(ip);
    };
    req.raw.on("close", stop);
    res.on("close", stop);
  });
}
