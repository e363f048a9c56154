import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { jsonOf, removeTempDirs, runDat, tempDir } from "../../helpers.js";

afterEach(removeTempDirs);

/** Three well-separated classes in two features: a trained MLP gets them nearly all right. */
function blobsCsv(file: string, rows: number, extra = ""): void {
  const lines = ["x1,x2,label"];
  for (let i = 0; i < rows; i++) {
    const label = i % 3;
    const jitter = ((i * 37) % 11) / 22 - 0.25;
    lines.push(`${[4, -4, 0][label] + jitter},${[0, 0, 4][label] - jitter},${label}`);
  }
  fs.writeFileSync(file, lines.join("\n") + "\n" + extra);
}

async function trainedModel(dir: string, csv: string): Promise<string> {
  const init = await runDat(["--json", "model", "init", path.join(dir, "m"), "--from-data", csv, "--hidden", "8"]);
  expect(init.code, init.stderr).toBe(0);
  const train = await runDat(["--json", "--home", path.join(dir, "home"), "train", "--model", path.join(dir, "m"), "--data", csv, "--epochs", "15", "--lr", "0.1", "--backend", "wasm", "--val-split", "0"]);
  expect(train.code, train.stderr).toBe(0);
  return jsonOf(train).modelDir;
}

describe("dat model eval", () => {
  it("reports accuracy, loss and a per-class table for a trained model (JSON and human)", async () => {
    const { dir } = tempDir();
    const csv = path.join(dir, "blobs.csv");
    blobsCsv(csv, 90);
    const model = await trainedModel(dir, csv);
    const untrained = await runDat(["--json", "model", "eval", "--model", path.join(dir, "m"), "--data", csv]);

    const run = await runDat(["--json", "model", "eval", "--model", model, "--data", csv]);
    const human = await runDat(["model", "eval", "--model", model, "--data", csv]);

    expect(run.code, run.stderr).toBe(0);
    const out = jsonOf(run);
    expect(out.count).toBe(90);
    expect(out.accuracy).toBeGreaterThan(0.9);
    expect(out.loss).toBeLessThan(jsonOf(untrained).loss);
    expect(out.classes).toHaveLength(3);
    expect(out.classes.map((c: { count: number }) => c.count)).toEqual([30, 30, 30]);
    const correct = out.classes.reduce((s: number, c: { recall: number; count: number }) => s + c.recall * c.count, 0);
    expect(correct / 90).toBeCloseTo(out.accuracy, 10);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/accuracy \d+\.\d%\s+loss \d\.\d{4}\s+90 samples/);
    expect(human.stdout).toMatch(/class\s+count\s+predicted\s+precision\s+recall/);
  });

  it("refuses data whose features do not fit the model, naming the file and both shapes (exit 3)", async () => {
    const { dir } = tempDir();
    expect((await runDat(["model", "init", path.join(dir, "img"), "--inputs", "28x28x1", "--classes", "10"])).code).toBe(0);
    const csv = path.join(dir, "narrow.csv");
    blobsCsv(csv, 6);

    const run = await runDat(["--json", "model", "eval", "--model", path.join(dir, "img"), "--data", csv]);

    expect(run.code).toBe(3);
    const error = JSON.parse(run.stdout.trim()).error;
    expect(error.code).toBe("DATA_MODEL_MISMATCH");
    expect(error.message).toContain(csv);
    expect(error.message).toContain("2 features per sample [2]");
    expect(error.message).toContain("input [28×28×1] (784 features) and 10 classes");
  });

  it("names the row of a label outside the model's classes (exit 3)", async () => {
    const { dir } = tempDir();
    expect((await runDat(["model", "init", path.join(dir, "m"), "--inputs", "2", "--classes", "3"])).code).toBe(0);
    const csv = path.join(dir, "labels.csv");
    fs.writeFileSync(csv, "x1,x2,label\n0,0,0\n1,1,2\n2,2,7\n");

    const run = await runDat(["model", "eval", "--model", path.join(dir, "m"), "--data", csv]);

    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`${csv}, row 3: label 7 is outside`);
    expect(run.stderr).toContain("expected an integer 0..2");
  });

  it.each([["NaN"], ["Infinity"], ["-inf"], [""]])("refuses a %j feature with the file, line and column (exit 3)", async (cell) => {
    const { dir } = tempDir();
    expect((await runDat(["model", "init", path.join(dir, "m"), "--inputs", "2", "--classes", "3"])).code).toBe(0);
    const csv = path.join(dir, "bad.csv");
    fs.writeFileSync(csv, `x1,x2,label\n0,0,0\n1,${cell},2\n`);

    const run = await runDat(["model", "eval", "--model", path.join(dir, "m"), "--data", csv]);

    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`${csv}, line 3, field "x2"`);
  });

  it.each([
    [["--data", "x.csv"], "USAGE"],
    [["--model", "m", "--job", "1", "--data", "x.csv"], "USAGE"],
    [["--model", "m", "--data", "x.csv", "--normalize", "scale:0"], "USAGE"],
    [["--model", "m", "--data", "x.csv", "--normalize", "log"], "USAGE"],
    [["--job", "abc", "--data", "x.csv"], undefined],
  ])("refuses %j as a usage error (exit 2)", async (flags, code) => {
    const run = await runDat(["--json", "model", "eval", ...(flags as string[])]);

    expect(run.code).toBe(2);
    if (code) expect(JSON.parse(run.stdout.trim()).error.code).toBe(code);
  });

  it("applies --normalize scale:<k> to the features before the model sees them", async () => {
    const { dir } = tempDir();
    const csv = path.join(dir, "blobs.csv");
    blobsCsv(csv, 30);
    const model = await trainedModel(dir, csv);
    const scaledCsv = path.join(dir, "scaled.csv");
    // The same rows with every feature ×100: scale:100 must give back exactly the original metrics.
    const rows = fs.readFileSync(csv, "utf8").trim().split("\n");
    fs.writeFileSync(scaledCsv, [rows[0], ...rows.slice(1).map((r) => { const [a, b, l] = r.split(","); return `${Number(a) * 100},${Number(b) * 100},${l}`; })].join("\n") + "\n");

    const plain = jsonOf(await runDat(["--json", "model", "eval", "--model", model, "--data", csv]));
    const scaled = jsonOf(await runDat(["--json", "model", "eval", "--model", model, "--data", scaledCsv, "--normalize", "scale:100"]));

    expect(scaled.accuracy).toBe(plain.accuracy);
    expect(scaled.loss).toBeCloseTo(plain.loss, 4);
    expect(scaled.normalize).toBe("scale:100");
  });

  it("says when a model folder does not exist (exit 4)", async () => {
    const { dir } = tempDir();
    const csv = path.join(dir, "blobs.csv");
    blobsCsv(csv, 3);

    const run = await runDat(["model", "eval", "--model", path.join(dir, "missing"), "--data", csv]);

    expect(run.code).toBe(4);
  });
});

describe("dat model eval --job", () => {
  it("pulls the job's current global model (as dat model pull does) and evaluates it", async () => {
    const { dat, ROOT, writeTabularCsv } = await import("../../../orchestrator/cli.js");
    const { dir } = tempDir();
    const operator = path.join(dir, "operator");
    const valCsv = path.join(dir, "val.csv");
    await writeTabularCsv(valCsv, 60, 5);
    expect((await dat(operator, ["init", "--json"])).code).toBe(0);
    const created = await dat(operator, [
      "--json", "job", "create", "--model", path.join(ROOT, "fixtures", "mlp-tabular"), "--rounds", "1", "--min-contributors", "1",
      "--validation", valCsv, "--label-column", "label",
    ]);
    expect(created.code, created.stderr).toBe(0);

    const byJob = await dat(operator, ["--json", "model", "eval", "--job", String(created.json.id), "--data", valCsv, "--label-column", "label"]);
    const byDir = await runDat(["--json", "model", "eval", "--model", path.join(ROOT, "fixtures", "mlp-tabular"), "--data", valCsv, "--label-column", "label"]);

    expect(byJob.code, byJob.stderr).toBe(0);
    expect(byJob.json).toMatchObject({ jobId: created.json.id, cid: expect.any(String), count: 60 });
    // The job's round-0 model is the fixture it was created from: the same metrics either way.
    expect(byJob.json.accuracy).toBe(jsonOf(byDir).accuracy);
    expect(byJob.json.loss).toBeCloseTo(jsonOf(byDir).loss, 6);
  });

  it("says when the job does not exist (exit 4)", async () => {
    const { dat } = await import("../../../orchestrator/cli.js");
    const { dir } = tempDir();
    const operator = path.join(dir, "operator");
    expect((await dat(operator, ["init", "--json"])).code).toBe(0);
    const csv = path.join(dir, "blobs.csv");
    blobsCsv(csv, 3);

    const run = await dat(operator, ["--json", "model", "eval", "--job", "42", "--data", csv]);

    expect(run.code).toBe(4);
  });
});
