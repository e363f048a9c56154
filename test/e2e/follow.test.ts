/**
 * Issue 16's "Done when": a network that runs unattended. The operator's `dat devnet` and
 * `dat serve`; three contributor homes, each a separate process, run only `dat join <url>` and
 * `dat train --job 1 --follow` (gas from `dat devnet fund`, operator setup). The operator runs
 * three rounds with `dat round start`; `dat serve` is killed while round 2 is collecting (the
 * followers have not all pushed) and restarted on the same home and port; the followers, woken by
 * the event stream and polling while it is down, get their round-2 submissions in, and exit when
 * the job is complete;
 * each contributor then claims with `dat rewards claim`, the chain found through its joined config.
 * Beside it, `dat round watch` reads round 1's events from the stream while the round runs.
 * No sleeps: readiness through the processes' output, state through polling with deadlines.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticDigits } from "../../src/train/data/synthetic.js";
import { subsetSource } from "../../src/train/data/source.js";
import { writeValidationCsv } from "../../src/demo/data.js";
import { ROOT, e2eProcesses, waitFor, type Home } from "./processes.js";

const { dat, datJson, startDaemon, startCollector, initHome, stopAll } = e2eProcesses("dat-follow-");

describe("contributors that join and follow, through an orchestrator restart", () => {
  let operator: Home;
  let contributors: Home[];
  let serve: ChildProcess;
  let orchestratorUrl: string;

  beforeAll(async () => {
    const init = initHome;
    operator = await init("operator");
    contributors = [await init("c1"), await init("c2"), await init("c3")];
    await startDaemon(["--home", operator.home, "devnet", "--port", "0"]);
    const started = await startDaemon<{ url: string }>(["--home", operator.home, "serve", "--port", "0"]);
    serve = started.child;
    orchestratorUrl = started.ready.url;

    const all = syntheticDigits({ count: 900, seed: 11 });
    for (const [i, c] of contributors.entries()) {
      await writeValidationCsv(subsetSource(all, Array.from({ length: 240 }, (_, k) => i * 240 + k)), path.join(c.home, "shard.csv"));
    }
    await writeValidationCsv(syntheticDigits({ count: 200, seed: 12 }), path.join(operator.home, "validation.csv"));
  });

  afterAll(stopAll);

  it("refuses to join what is not a dat orchestrator, and leaves the config unchanged", async () => {
    const c = contributors[0];
    const before = fs.readFileSync(path.join(c.home, "config.json"), "utf8");
    // The orchestrator's host answers HTTP, but /nope/network is no network description (404).
    const run = await dat(["--json", "--home", c.home, "join", orchestratorUrl + "/nope"]);
    expect(run.code).toBe(3);
    expect((JSON.parse(run.stdout) as { error: { code: string } }).error.code).toBe("JOIN_NOT_ORCHESTRATOR");
    expect(fs.readFileSync(path.join(c.home, "config.json"), "utf8")).toBe(before);
  });

  it("three followers train three rounds unattended, survive a restart, and claim their rewards", async () => {
    const job = await datJson<{ id: number }>([
      "--home", operator.home, "job", "create", "--model", path.join(ROOT, "fixtures", "mlp-digits"),
      "--rounds", "3", "--min-contributors", "3", "--epochs", "1", "--batch-size", "32", "--lr", "0.05",
      "--reward", "100", "--validation", path.join(operator.home, "validation.csv"), "--label-column", "label",
    ]);
    expect(job.id).toBe(1);

    const followers: ReturnType<typeof startCollector>[] = [];
    for (const c of contributors) {
      const joined = await datJson<{ chainId: number; orchestratorUrl: string; contracts: { distributor: string }; jobs: { id: number }[] }>(
        ["--home", c.home, "join", orchestratorUrl]);
      expect(joined.jobs.map((j) => j.id)).toEqual([1]);
      await datJson(["--home", operator.home, "devnet", "fund", "--address", c.address, "--eth", "1"]);
      followers.push(startCollector(["--home", c.home, "train", "--job", "1", "--follow", "--data", path.join(c.home, "shard.csv"), "--label-column", "label"]));
    }
    // Every follower has registered (and so is waiting) before the first round opens.
    await waitFor("three registered followers", async () => followers.every((f) => f.events.some((e) => e.event === "follow.registered")) || undefined, 90_000);

    const port = new URL(orchestratorUrl).port;
    let pushedBeforeKill = -1;
    for (const round of [1, 2, 3]) {
      const watch = round === 1
        ? startCollector(["--home", contributors[0].home, "round", "watch", "--job", "1", "--after", "0", "--until", "round.published"])
        : undefined;
      let roundRunning = true;
      const seenWhileRunning: string[] = [];
      if (watch) {
        watch.child.stdout!.on("data", () => {
          if (roundRunning) for (const l of watch.lines) if (!seenWhileRunning.includes(l)) seenWhileRunning.push(l);
        });
      }
      const started = round === 2
        ? await startRoundAndRestartServe()
        : await dat(["--json", "--home", operator.home, "round", "start", "--job", "1"], { timeoutMs: 240_000 }).catch((error: Error) => {
          throw new Error(`${error.message}\nfollowers:\n${followers.map((f) => f.log.slice(-15).join("\n")).join("\n---\n")}`);
        });
      roundRunning = false;
      expect(started.code, started.stderr).toBe(0);
      const result = JSON.parse(started.stdout) as { round: number; state: string; scores: unknown[]; settlement: { status: string; txHash: string } };
      expect(result.round).toBe(round);
      expect(result.state).toBe("published");
      expect(result.scores).toHaveLength(3);
      expect(result.settlement.status).toBe("published");

      if (watch) {
        expect(await watch.exited).toBe(0);
        const events = watch.lines.map((l) => JSON.parse(l) as { type: string; round: number; data: Record<string, unknown> });
        expect(events.map((e) => e.type)).toEqual([
          "round.opened", "submission.accepted", "submission.accepted", "submission.accepted", "round.closed", "round.aggregated", "round.published",
        ]);
        expect(events.every((e) => e.round === 1)).toBe(true);
        expect(events.at(-1)!.data.txHash).toBe(result.settlement.txHash);
        expect(typeof (events[5].data.metrics as { accuracy: number }).accuracy).toBe("number");
        // Read from the stream as they happened: the round's first events arrived while it still ran.
        expect(seenWhileRunning.length).toBeGreaterThan(0);
        expect(JSON.parse(seenWhileRunning[0]).type).toBe("round.opened");
      }

    }

    /**
     * Round 2: `round start` runs in the background (in the operator's home, beside `dat serve`);
     * once the round is collecting, `dat serve` is killed and brought back on the same home and
     * port while the followers pull, train and push.
     */
    async function startRoundAndRestartServe(): Promise<{ code: number | null; stdout: string; stderr: string }> {
      const start = startCollector(["--home", operator.home, "round", "start", "--job", "1"]);
      await waitFor("round 2 collecting", async () => start.events.some((e) => e.event === "round-progress" && e.round === 2) || undefined, 120_000);
      serve.kill("SIGKILL");
      await new Promise((resolve) => serve.once("exit", resolve));
      pushedBeforeKill = followers.filter((f) => f.events.some((e) => e.event === "follow.round-pushed" && e.round === 2)).length;
      const again = await startDaemon<{ url: string }>(["--home", operator.home, "serve", "--port", port]);
      serve = again.child;
      expect(again.ready.url).toBe(orchestratorUrl);
      const code = await start.exited;
      return { code, stdout: start.lines.join("\n"), stderr: start.log.join("\n") + `\nfollowers:\n${followers.map((f) => f.log.slice(-15).join("\n")).join("\n---\n")}` };
    }

    // The round was still collecting when the orchestrator died: not every follower had pushed,
    // and the rest got their submissions in through the restarted one.
    expect(pushedBeforeKill).toBeLessThan(3);
    for (const f of followers) {
      const stream = f.events.filter((e) => e.event === "follow.stream").map((e) => e.state);
      expect(stream).toContain("down"); // the stream died with `dat serve`…
      expect(stream.filter((s) => s === "up").length).toBeGreaterThanOrEqual(2); // …and came back
    }

    // The followers end on their own once the job has published all its rounds.
    for (const f of followers) {
      expect(await f.exited).toBe(0);
      const summary = JSON.parse(f.lines.at(-1)!) as { reason: string; roundsContributed: number[] };
      expect(summary.reason).toBe("job-complete");
      expect(summary.roundsContributed).toEqual([1, 2, 3]);
      expect(f.events.filter((e) => e.event === "follow.round-pushed")).toHaveLength(3);
    }

    const nodes = await datJson<{ address: string; lastSeenAt: number; roundsContributed: number }[]>(["--home", operator.home, "node", "list"]);
    for (const c of contributors) {
      const node = nodes.find((n) => n.address.toLowerCase() === c.address.toLowerCase());
      expect(node?.roundsContributed).toBe(3);
      expect(node!.lastSeenAt).toBeGreaterThan(0);
    }

    for (const c of contributors) {
      const report = await datJson<{ earned: string }>(["--home", c.home, "rewards", "--job", "1"]);
      expect(BigInt(report.earned)).toBeGreaterThan(0n);
      const claim = await datJson<{ total: string; balance: string }>(["--home", c.home, "rewards", "claim", "--job", "1"]);
      expect(BigInt(claim.total)).toBe(BigInt(report.earned));
      expect(BigInt(claim.balance)).toBe(BigInt(report.earned));
    }
  }, 900_000);
});
