/**
 * End to end: `dat serve` as a real child process, three contributor homes register, pull, train on
 * generated data and push over HTTP; the operator's `dat round start` publishes two rounds in a row
 * with validation accuracy improving. No chain is configured here, so settlement is reported as
 * skipped (the chain tests cover settlement against dat devnet).
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT, dat, exited, startServe, writeTabularCsv } from "../orchestrator/cli.js";
import { tempHome } from "../orchestrator/helpers.js";
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { BIN, TEST_ENV } from "../orchestrator/cli.js";

describe("a federated round over dat serve", () => {
  const dirs: string[] = [];
  let serve: ChildProcess | undefined;
  afterAll(async () => {
    if (serve && serve.exitCode === null) {
      serve.kill("SIGTERM");
      await exited(serve);
    }
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it("publishes two rounds with accuracy improving", async () => {
    // Prepare: operator home with a job, three contributor homes with their own data.
    const work = tempHome("dat-e2e-");
    dirs.push(work);
    const operator = path.join(work, "operator");
    expect((await dat(operator, ["init", "--json"])).code).toBe(0);
    const valCsv = path.join(work, "val.csv");
    await writeTabularCsv(valCsv, 300, 99);
    const created = await dat(operator, [
      "--json", "job", "create", "--model", path.join(ROOT, "fixtures", "mlp-tabular"), "--rounds", "2", "--min-contributors", "3",
      "--deadline", "5m", "--epochs", "1", "--batch-size", "16", "--lr", "0.05", "--validation", valCsv, "--label-column", "label",
    ]);
    expect(created.code, created.stderr).toBe(0);
    const jobId = String(created.json.id);
    const started = await startServe(operator);
    serve = started.child;
    const contributors = await Promise.all([1, 2, 3].map(async (i) => {
      const home = path.join(work, `c${i}`);
      const data = path.join(work, `c${i}.csv`);
      await writeTabularCsv(data, 150, i);
      return { home, data };
    }));
    for (const c of contributors) {
      expect((await dat(c.home, ["init", "--json"])).code).toBe(0);
      const reg = await dat(c.home, ["--orchestrator", started.url, "--json", "node", "register"]);
      expect(reg.code, reg.stderr).toBe(0);
    }

    const accuracies: number[] = [];
    for (let round = 1; round <= 2; round++) {
      // Execute: the operator starts the round; contributors train and push once it collects.
      const start = spawn(process.execPath, [BIN, "--home", operator, "--json", "round", "start", "--job", jobId], { env: TEST_ENV, cwd: ROOT });
      let out = "";
      let err = "";
      start.stdout.on("data", (d) => (out += d));
      start.stderr.on("data", (d) => (err += d));
      const deadline = Date.now() + 60_000;
      for (;;) {
        const status = await dat(operator, ["--json", "round", "status", "--job", jobId]);
        if (status.json?.round === round && status.json?.state === "collecting") break;
        if (Date.now() > deadline) throw new Error(`round ${round} never opened:\n${err}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const pulled = await dat(contributors[0].home, ["--orchestrator", started.url, "--json", "model", "pull", "--job", jobId]);
      expect(pulled.code, pulled.stderr).toBe(0);
      for (const c of contributors) {
        const trained = await dat(c.home, ["--orchestrator", started.url, "--json", "train", "--job", jobId, "--data", c.data, "--label-column", "label"]);
        expect(trained.code, trained.stderr).toBe(0);
        expect(trained.json.pushed).toBe(true);
      }
      const code = await exited(start);
      expect(code, err).toBe(0);
      const result = JSON.parse(out.trim());
      expect(result.state).toBe("published");
      expect(result.round).toBe(round);
      expect(result.scores).toHaveLength(3);
      expect(result.settlement.status).toBe("skipped");
      accuracies.push(result.metrics.accuracy);
    }
    // Assert: the learning curve goes up, and job show prints it.
    expect(accuracies[1]).toBeGreaterThan(accuracies[0]);
    const shown = await dat(operator, ["job", "show", jobId]);
    expect(shown.stdout).toMatch(/round\s+state\s+accepted\s+loss\s+accuracy/);
    expect(shown.stdout).toMatch(/2\s+published\s+3/);
    const verify = await dat(operator, ["--json", "round", "verify", "--job", jobId]);
    expect(verify.json.ok).toBe(true);
    expect(verify.json.chain).toMatchObject({ status: "skipped", note: expect.stringMatching(/no chain deployment configured/) });
  });
});
