/**
 * GET /jobs/:id/events (Server-Sent Events) and the client `dat round watch` uses, against a real
 * listening `dat serve` app over a real home: events arrive as they happen, a reconnect with
 * Last-Event-ID resumes from the database, events that another process of the home writes reach
 * the stream, and malformed or unknown requests are refused before any stream starts.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { buildServer } from "../../../../src/server/app.js";
import { createEmbeddedOrchestrator, type EmbeddedOrchestrator } from "../../../../src/orchestrator/embedded.js";
import { insertJob } from "../../../../src/db/jobs.js";
import { watchRoundEvents, type RoundEvent } from "../../../../src/orchestrator/events.js";
import { eventLine } from "../../../../src/cli/commands/round/watch.js";

let tmp: string;
let orch: EmbeddedOrchestrator;
let other: EmbeddedOrchestrator;
let app: FastifyInstance;
let url: string;

async function until<T>(what: string, check: () => T | undefined, deadlineMs = 20_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Watches job 1 over HTTP from `after`; returns the collected events and the stop function. */
function watch(after?: number): { events: RoundEvent[]; stop: () => void; done: Promise<void> } {
  const events: RoundEvent[] = [];
  const controller = new AbortController();
  const done = watchRoundEvents({ kind: "http", url }, { jobId: 1, after, signal: controller.signal, onEvent: (e) => events.push(e) });
  return { events, stop: () => controller.abort(), done };
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dat-events-"));
  orch = await createEmbeddedOrchestrator({ home: tmp, config: { store: { kind: "local" } } as never });
  insertJob(orch.db, {
    name: null, initialModelCid: "bafkreiaaaa", fingerprint: "0x00", rounds: 5, minContributors: 1, maxContributors: null,
    deadlineSeconds: 60, epochs: 1, batchSize: 8, lr: 0.01, optimizer: "sgd", strategy: "fedavg", strategyParams: {},
    dpClip: null, dpNoise: null, encoding: "float32", rewardPerRound: "0", validationPath: null, labelColumn: null,
    gateToken: null, gateMin: null, encryptModel: false,
  });
  app = await buildServer({ orchestrator: orch });
  url = await app.listen({ host: "127.0.0.1", port: 0 });
  other = await createEmbeddedOrchestrator({ home: tmp, config: { store: { kind: "local" } } as never });
});

afterAll(async () => {
  await app?.close();
  await orch?.close();
  await other?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe("round events as Server-Sent Events", () => {
  it("streams opened, rejected (with its code) and failed as they happen, and resumes after an id", async () => {
    const live = watch();
    // The stream is up once a first event written after connecting arrives; open the round until it does.
    const res = await fetch(`${url}/jobs/1/events`, { headers: { accept: "text/event-stream" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    await res.body?.cancel();

    await orch.openRound(1);
    await until("round.opened", () => live.events.find((e) => e.type === "round.opened"));
    await expect(orch.submit({ jobId: 1, round: 1, address: "0x" + "11".repeat(20) } as never, new Uint8Array(0))).rejects.toBeTruthy();
    const rejected = await until("submission.rejected", () => live.events.find((e) => e.type === "submission.rejected"));
    expect(typeof rejected.data.code).toBe("string");
    expect(rejected.round).toBe(1);
    await orch.failRound(1, "operator stopped it");
    const failed = await until("round.failed", () => live.events.find((e) => e.type === "round.failed"));
    expect(failed.data.reason).toBe("operator stopped it");
    live.stop();
    await live.done;
    expect(live.events.map((e) => e.type)).toEqual(["round.opened", "submission.rejected", "round.failed"]);
    expect(eventLine(failed)).toContain("failed: operator stopped it");

    // A reconnect after the first id gets exactly the rest, from the database.
    const resumed = watch(live.events[0].id);
    await until("the resumed events", () => (resumed.events.length >= 2 ? true : undefined));
    resumed.stop();
    await resumed.done;
    expect(resumed.events.map((e) => e.id)).toEqual(live.events.slice(1).map((e) => e.id));
  });

  it("carries events that another process of the same home recorded", async () => {
    const live = watch(orch.events.since(1).at(-1)!.id);
    await other.openRound(1); // a second orchestrator on the same home (as `dat round start` is)
    const opened = await until("round 2 opened from the other process", () => live.events.find((e) => e.type === "round.opened" && e.round === 2) ?? undefined);
    expect(opened.data.baseModelCid).toBe("bafkreiaaaa");
    live.stop();
    await live.done;
  });

  it("refuses a malformed Last-Event-ID and an unknown job before any stream", async () => {
    const bad = await app.inject({ method: "GET", url: "/jobs/1/events", headers: { "last-event-id": "abc" } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe("MALFORMED_REQUEST");
    const negative = await app.inject({ method: "GET", url: "/jobs/1/events?after=-4" });
    expect(negative.statusCode).toBe(400);
    for (const after of ["1e3", "0x10", "1.5", "%205", "99999999999999999999", "NaN", "", "1,2"]) {
      const res = await app.inject({ method: "GET", url: `/jobs/1/events?after=${after}` });
      expect(res.statusCode, `?after=${after}`).toBe(400);
      expect(res.json().error.code).toBe("MALFORMED_REQUEST");
    }
    for (const header of ["-1", "1e3", "7;8", "abc", "9".repeat(16)]) {
      const res = await app.inject({ method: "GET", url: "/jobs/1/events?after=3", headers: { "last-event-id": header } });
      expect(res.statusCode, `Last-Event-ID ${JSON.stringify(header)}`).toBe(400);
    }
    const unknown = await app.inject({ method: "GET", url: "/jobs/99/events" });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe("JOB_NOT_FOUND");
    const badJob = await app.inject({ method: "GET", url: "/jobs/x/events" });
    expect(badJob.statusCode).toBe(400);
    // An unknown job is refused to the watch client too, not retried forever.
    await expect(watchRoundEvents({ kind: "http", url }, { jobId: 99, onEvent: () => {} })).rejects.toMatchObject({ code: "JOB_NOT_FOUND" });
  });
});

describe("who may hold the event stream", () => {
  it("caps open streams per client IP (429 with Retry-After) and frees a slot when a stream closes", async () => {
    const controllers: AbortController[] = [];
    const openStream = async () => {
      const controller = new AbortController();
      const res = await fetch(`${url}/jobs/1/events`, { headers: { accept: "text/event-stream" }, signal: controller.signal });
      controllers.push(controller);
      return res;
    };
    try {
      // Nothing else of this file holds a stream now: the default 8 per IP are all free.
      for (let i = 0; i < 8; i++) expect((await openStream()).status).toBe(200);
      const refused = await openStream();
      expect(refused.status).toBe(429);
      expect(refused.headers.get("retry-after")).toBe("5");
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("EVENT_STREAMS_LIMIT");
      // A malformed request is refused as malformed, not as over the limit, and takes no slot.
      expect((await fetch(`${url}/jobs/1/events?after=x`)).status).toBe(400);

      controllers[0].abort();
      const end = Date.now() + 20_000;
      let again: Response;
      for (;;) {
        again = await openStream();
        if (again.status === 200 || Date.now() > end) break;
        await again.body?.cancel();
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(again.status).toBe(200);
    } finally {
      for (const c of controllers) c.abort();
    }
  });
});

describe("GET /network", () => {
  it("describes a server without chain configuration as chain null, with its jobs", async () => {
    const res = await app.inject({ method: "GET", url: "/network" });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { service: string; chain: unknown; jobs: { id: number; rounds: number }[] };
    expect(body.service).toBe("dat-orchestrator");
    expect(body.chain).toBeNull();
    expect(body.jobs).toEqual([expect.objectContaining({ id: 1, rounds: 5 })]);
  });
});
