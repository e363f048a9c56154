/**
 * Issue 14, end to end with real processes and no fixture: a UCI-digits-like CSV (64 pixel columns
 * 0..16, 10 classes) synthesized here; `dat model init --from-data`, `dat job create --normalize
 * zscore --validation …`, `dat serve`, two contributors `dat train --job` through two `dat round
 * start` rounds; then the same rows give the same prediction from `dat infer` (local), `dat infer`
 * against `dat serve`, and `dat model eval --job --rows`, and those predictions are the ones of
 * z-scored inputs computed independently here.
 */
import fs from "node:fs";
import path from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, ROOT, TEST_ENV, dat, exited, startServe } from "../../../orchestrator/cli.js";
import { tempHome } from "../../../orchestrator/helpers.js";
import { writeDigitsCsv } from "./digits.js";

describe("one preprocessing per job, from model init to inference (no fixture)", () => {
  const dirs: string[] = [];
  let serve: ChildProcess | undefined;
  afterAll(async () => {
    if (serve && serve.exitCode === null) {
      serve.kill("SIGTERM");
      await exited(serve);
    }
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it("model init --from-data, job create --normalize zscore, two rounds, same prediction everywhere", async () => {
    // Prepare: data, a model made for it, a public job whose statistics come from the validation file.
    const work = tempHome("dat-pre-");
    dirs.push(work);
    const operator = path.join(work, "operator");
    const valCsv = path.join(work, "val.csv");
    const val = writeDigitsCsv(valCsv, 200, 1);
    const shards = [2, 3].map((seed) => {
      const file = path.join(work, `c${seed}.csv`);
      writeDigitsCsv(file, 200, seed);
      return { home: path.join(work, `c${seed}`), file };
    });
    expect((await dat(operator, ["init", "--json"])).code).toBe(0);
    const init = await dat(operator, ["--json", "model", "init", path.join(work, "m"), "--from-data", valCsv, "--label-column", "label"]);
    expect(init.code, init.stderr).toBe(0);
    const created = await dat(operator, [
      "--json", "job", "create", "--model", path.join(work, "m"), "--rounds", "2", "--min-contributors", "2", "--deadline", "5m",
      "--epochs", "1", "--batch-size", "16", "--lr", "0.05", "--validation", valCsv, "--label-column", "label",
      "--normalize", "zscore", "--gate-min", "0",
    ]);
    expect(created.code, created.stderr).toBe(0);
    const jobId = String(created.json.id);
    const shown = await dat(operator, ["--json", "job", "show", jobId]);
    expect(shown.json.preprocess.kind).toBe("zscore");
    // The statistics are the validation file's (population mean of pixel 0, computed here).
    const mean0 = val.reduce((s, r) => s + r[0], 0) / val.length;
    expect(shown.json.preprocess.stats.mean[0]).toBeCloseTo(mean0, 4);
    expect(shown.json.preprocess.stats.mean).toHaveLength(64);

    const started = await startServe(operator);
    serve = started.child;
    for (const c of shards) {
      expect((await dat(c.home, ["init", "--json"])).code).toBe(0);
      const reg = await dat(c.home, ["--orchestrator", started.url, "--json", "node", "register"]);
      expect(reg.code, reg.stderr).toBe(0);
    }

    // Execute: two rounds; a contributor's differing --normalize is refused first, nothing pushed.
    const cids: string[] = [];
    for (let round = 1; round <= 2; round++) {
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
      if (round === 1) {
        const conflict = await dat(shards[0].home, ["--orchestrator", started.url, "--json", "train", "--job", jobId, "--data", shards[0].file, "--label-column", "label", "--normalize", "minmax"]);
        expect(conflict.code).toBe(2);
        expect(conflict.stdout + conflict.stderr).toMatch(/--normalize minmax differs from job \d+'s preprocessing zscore/);
      }
      for (const c of shards) {
        const trained = await dat(c.home, ["--orchestrator", started.url, "--json", "train", "--job", jobId, "--data", c.file, "--label-column", "label"]);
        expect(trained.code, trained.stderr).toBe(0);
        expect(trained.json.pushed).toBe(true);
      }
      expect(await exited(start), err).toBe(0);
      const result = JSON.parse(out.trim().split("\n").at(-1)!);
      expect(result.state).toBe("published");
      cids.push(result.modelCid);
    }
    expect(cids[0]).not.toBe(cids[1]);

    // The same rows: first 8 of the validation file (the label column is the job's and is dropped).
    const input = path.join(work, "rows.csv");
    fs.writeFileSync(input, fs.readFileSync(valCsv, "utf8").split("\n").slice(0, 9).join("\n") + "\n");
    const local = await dat(operator, ["--json", "infer", "--job", jobId, "--input", input]);
    const remote = await dat(shards[0].home, ["--orchestrator", started.url, "--json", "infer", "--job", jobId, "--input", input]);
    const evaluated = await dat(operator, ["--json", "model", "eval", "--job", jobId, "--data", input, "--label-column", "label", "--rows"]);
    const refused = await dat(operator, ["--json", "model", "eval", "--job", jobId, "--data", input, "--normalize", "zscore"]);

    // Assert
    expect(local.code, local.stderr).toBe(0);
    expect(remote.code, remote.stderr).toBe(0);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    const localClasses = local.json.predictions.map((p: { classIndex: number }) => p.classIndex);
    expect(localClasses).toHaveLength(8);
    expect(remote.json.predictions.map((p: { classIndex: number }) => p.classIndex)).toEqual(localClasses);
    // Probabilities agree to float32 rounding (the two processes may pick different tfjs backends).
    const localProbs = local.json.predictions.flatMap((p: { probabilities: number[] }) => p.probabilities);
    remote.json.predictions.flatMap((p: { probabilities: number[] }) => p.probabilities).forEach((q: number, i: number) => expect(q).toBeCloseTo(localProbs[i], 4));
    expect(evaluated.json.predictions).toEqual(localClasses);
    expect(evaluated.json.normalize).toBe("zscore");
    expect(refused.code).toBe(2);
    // Independently: z-score the rows with statistics computed here, run the published model.
    const { loadModelDir } = await import("../../../../src/train/modelIo.js");
    const tf = await import("@tensorflow/tfjs");
    const model = await loadModelDir(evaluated.json.model);
    const std = Array.from({ length: 64 }, (_, j) => Math.sqrt(val.reduce((s, r) => s + (r[j] - val.reduce((a, q) => a + q[j], 0) / val.length) ** 2, 0) / val.length));
    const means = Array.from({ length: 64 }, (_, j) => val.reduce((a, q) => a + q[j], 0) / val.length);
    const x = tf.tensor2d(val.slice(0, 8).map((r) => r.slice(0, 64).map((v, j) => (v - means[j]) / (std[j] > 0 ? std[j] : 1))));
    const expected = Array.from((model.predict(x) as import("@tensorflow/tfjs").Tensor).argMax(1).dataSync());
    expect(localClasses).toEqual(expected);
  }, 400_000);
});
