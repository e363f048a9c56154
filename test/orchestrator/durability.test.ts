/**
 * kill -9: `dat serve` is a real child process. Submissions are acknowledged, the server is killed
 * with SIGKILL while more are in flight, restarted on the same home: every acknowledged submission
 * is there, and closing aggregates each exactly once — also when the crash hit mid-close.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { createHttpOrchestrator } from "../../src/orchestrator/http/client.js";
import { buildRegistration, buildSubmission } from "../../src/contributor/submission.js";
import { readModelBlob } from "../../src/orchestrator/modelBlob.js";
import { ROOT, TEST_ENV, dat, exited, startServe } from "./cli.js";
import { account, constantDelta, tempHome } from "./helpers.js";
import type { ChildProcess } from "node:child_process";

describe("kill -9 of dat serve", () => {
  const homes: string[] = [];
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) { c.kill("SIGKILL"); await exited(c); }
    for (const h of homes) fs.rmSync(h, { recursive: true, force: true });
  });

  it("loses no acknowledged submission and aggregates each once", async () => {
    // Prepare: a job (min 2), an open round, 8 registered contributors with their deltas built.
    const home = tempHome("dat-kill-");
    homes.push(home);
    expect((await dat(home, ["init", "--json"])).code).toBe(0);
    const created = await dat(home, ["--json", "job", "create", "--model", path.join(ROOT, "fixtures", "mlp-tabular"), "--rounds", "3", "--min-contributors", "2", "--deadline", "10m"]);
    expect(created.code, created.stderr).toBe(0);
    let server = await startServe(home);
    children.push(server.child);
    let orch = createHttpOrchestrator({ url: server.url, operatorToken: TEST_ENV.DAT_OPERATOR_TOKEN, attempts: 1 });
    const round = await orch.openRound(1);
    const base = await readModelBlob(await orch.getModel(round.modelCid));
    const people = Array.from({ length: 8 }, () => account());
    for (const p of people) await orch.registerNode(await buildRegistration(p, "cpu", {}));
    // Person i sends 0.01·(1 + (k + i) mod 8) at element k: no two are parallel (copies would go into
    // the aggregate once), and the mean over the eight is 0.045 at every element.
    const pattern = (i: number) => constantDelta(base, 0).map((t, ti) => ({ ...t, data: t.data.map((_, k) => 0.01 * (1 + ((k + ti + i) % 8))) }));
    const built = await Promise.all(people.map((p, i) => buildSubmission({ account: p, round, tensors: pattern(i), sampleCount: 10 })));

    // Execute: 3 acknowledged one by one, then 5 in flight while the server is killed with SIGKILL.
    const acknowledged = new Set<string>();
    for (const b of built.slice(0, 3)) {
      await orch.submit(b.submission, b.sealed);
      acknowledged.add(b.submission.address);
    }
    const inFlight = built.slice(3).map((b) => orch.submit(b.submission, b.sealed).then(() => acknowledged.add(b.submission.address)).catch(() => undefined));
    await new Promise((r) => setImmediate(r));
    server.child.kill("SIGKILL");
    await Promise.all(inFlight);
    await exited(server.child);
    await orch.close();

    server = await startServe(home);
    children.push(server.child);
    orch = createHttpOrchestrator({ url: server.url, operatorToken: TEST_ENV.DAT_OPERATOR_TOKEN, attempts: 1 });
    const after = await orch.roundStatus(1, 1);
    const present = new Set<string>(after.submissions.map((s) => s.address));
    // Assert: everything acknowledged survived; the round is still collecting and takes more.
    for (const a of acknowledged) expect(present.has(a)).toBe(true);
    expect(after.state).toBe("collecting");
    for (const b of built) if (!present.has(b.submission.address)) await orch.submit(b.submission, b.sealed);

    // A crash mid-close: the round is left "aggregating" (as a kill during aggregation leaves it).
    server.child.kill("SIGKILL");
    await exited(server.child);
    const db = new Database(path.join(home, "dat.db"));
    db.prepare("UPDATE rounds SET state = 'aggregating', closed_at = ? WHERE job_id = 1 AND round = 1").run(Date.now());
    db.close();
    server = await startServe(home);
    children.push(server.child);
    await orch.close();
    orch = createHttpOrchestrator({ url: server.url, operatorToken: TEST_ENV.DAT_OPERATOR_TOKEN, attempts: 1 });
    const late = await buildSubmission({ account: people[0], round, tensors: constantDelta(base, 1), sampleCount: 10 });
    await expect(orch.submit(late.submission, late.sealed)).rejects.toMatchObject({ code: "SUBMISSION_WRONG_ROUND" });
    const closed = await orch.closeRound(1);
    expect(closed.state).toBe("published");
    expect(closed.scores).toHaveLength(8);
    // Each delta in exactly once: mean of 0.01..0.08 = 0.045 on every weight.
    const next = await readModelBlob(await orch.getModel(closed.modelCid!));
    for (let i = 0; i < next.length; i += 11) expect(next.weights[i]).toBeCloseTo(base.weights[i] + 0.045, 5);
    await expect(orch.closeRound(1)).rejects.toMatchObject({ code: "ROUND_NOT_OPEN" });
    const final = await orch.roundStatus(1, 1);
    expect(final.submissions.filter((s) => s.status === "aggregated")).toHaveLength(8);
    await orch.close();
    server.child.kill("SIGTERM");
    expect(await exited(server.child)).toBe(0);
  });
});
