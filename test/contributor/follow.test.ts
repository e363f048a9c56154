/**
 * How an idle follower waits (src/contributor/follow.ts), over a real embedded orchestrator on a
 * temporary home: an event of the job wakes it at once although its polls are minutes apart, and
 * without a live stream (an orchestrator URL nobody answers) it falls back to polling. No round
 * opens here, so nothing trains: what is observed is when the follower asks the orchestrator.
 */
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { createEmbeddedOrchestrator, type EmbeddedOrchestrator } from "../../src/orchestrator/embedded.js";
import { insertJob } from "../../src/db/jobs.js";
import { followJob, type FollowEvent } from "../../src/contributor/follow.js";
import type { RoundEventSource } from "../../src/orchestrator/events.js";
import { waitFor } from "../e2e/processes.js";

/** `waitFor` over a synchronous check. */
const until = <T>(what: string, check: () => T | undefined) => waitFor(what, async () => check(), 20_000);

let home: string;
let orch: EmbeddedOrchestrator;

/** Follows job 1 with `events`; counts the follower's getJob calls (one per look at the job). */
function follow(events: RoundEventSource | undefined, pollMs: number) {
  let looks = 0;
  const counted = new Proxy(orch, {
    get(target, key, receiver) {
      if (key === "getJob") return (id: number) => { looks += 1; return target.getJob(id); };
      const value = Reflect.get(target, key, receiver) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const controller = new AbortController();
  const seen: FollowEvent[] = [];
  const done = followJob(counted, {
    home, jobId: 1, dataPath: path.join(home, "unused.csv"), account: privateKeyToAccount(generatePrivateKey()),
    backendLabel: "cpu", metadata: {}, signal: controller.signal, events, pollMs, streamPollMs: 600_000, heartbeatMs: 600_000,
    onEvent: (e) => seen.push(e),
  });
  return { looks: () => looks, seen, stop: () => controller.abort(), done };
}

beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), "dat-follow-wait-"));
  orch = await createEmbeddedOrchestrator({ home, config: { store: { kind: "local" } } as never });
  insertJob(orch.db, {
    name: null, initialModelCid: "bafkreiaaaa", fingerprint: "0x00", rounds: 5, minContributors: 1, maxContributors: null,
    deadlineSeconds: 60, epochs: 1, batchSize: 8, lr: 0.01, optimizer: "sgd", strategy: "fedavg", strategyParams: {},
    dpClip: null, dpNoise: null, encoding: "float32", rewardPerRound: "0", validationPath: null, labelColumn: null,
    gateToken: null, gateMin: null, encryptModel: false,
  });
});

afterAll(async () => {
  await orch?.close();
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

describe("an idle follower", () => {
  it("is woken by the job's events, not by its 10-minute poll", async () => {
    const f = follow({ kind: "bus", bus: orch.events }, 600_000);
    await until("the follower waiting on a live stream", () =>
      (f.seen.some((e) => e.type === "waiting") && f.seen.some((e) => e.type === "stream" && e.state === "up") ? true : undefined));
    const before = f.looks();
    // An event of the job (what a round's failure announces): the follower looks at the job again.
    orch.events.emit(1, 0, "round.failed", { reason: "a wake-up" });
    await until("a second look at the job", () => (f.looks() > before ? true : undefined));
    f.stop();
    expect(await f.done).toMatchObject({ reason: "stopped", roundsContributed: [] });
  });

  it("polls every pollMs while no event stream answers", async () => {
    // A port that was free a moment ago: connections are refused, the stream never comes up.
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));

    const f = follow({ kind: "http", url: `http://127.0.0.1:${port}` }, 20);
    await until("five looks at the job", () => (f.looks() >= 5 ? true : undefined));
    expect(f.seen.some((e) => e.type === "stream" && e.state === "up")).toBe(false);
    f.stop();
    expect((await f.done).reason).toBe("stopped");
  });
});
