import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { jsonOf, removeTempDirs, runDat, tempDir } from "../../helpers.js";

afterEach(removeTempDirs);

/** Parameter count read from the written model.json's weight manifest, independent of dat's loader. */
function manifestParams(dir: string): number {
  const json = JSON.parse(fs.readFileSync(path.join(dir, "model.json"), "utf8"));
  const specs = json.weightsManifest.flatMap((g: { weights: { shape: number[] }[] }) => g.weights);
  return specs.reduce((sum: number, s: { shape: number[] }) => sum + s.shape.reduce((a, b) => a * b, 1), 0);
}

describe("dat model init", () => {
  it("writes an MLP folder (model.json + weights.bin) and prints {dir, template, inputs, classes, params}", async () => {
    const { dir } = tempDir();
    const target = path.join(dir, "mlp");

    const run = await runDat(["--json", "model", "init", target, "--inputs", "64", "--classes", "10", "--hidden", "64,32"]);

    expect(run.code, run.stderr).toBe(0);
    const out = jsonOf(run);
    expect(out).toMatchObject({ dir: target, template: "mlp", inputs: [64], classes: 10, params: 64 * 64 + 64 + 64 * 32 + 32 + 32 * 10 + 10 });
    expect(manifestParams(target)).toBe(out.params);
    expect(fs.statSync(path.join(target, "weights.bin")).size).toBe(out.params * 4);
  });

  it("infers inputs and classes from a CSV with --label-column and picks an MLP", async () => {
    const { dir } = tempDir();
    const csv = path.join(dir, "table.csv");
    fs.writeFileSync(csv, "f1,kind,f2,f3,f4\n0.1,0,1,2,3\n0.2,3,1,2,3\n0.3,1,1,2,3\n");

    const run = await runDat(["--json", "model", "init", path.join(dir, "m"), "--from-data", csv, "--label-column", "kind"]);

    expect(run.code, run.stderr).toBe(0);
    expect(jsonOf(run)).toMatchObject({ template: "mlp", inputs: [4], classes: 4 });
  });

  it("builds a CNN for image inputs with the human summary", async () => {
    const { dir } = tempDir();

    const run = await runDat(["model", "init", path.join(dir, "cnn"), "--inputs", "28x28x1", "--classes", "10", "--seed", "3"]);

    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain("Wrote a cnn model");
    expect(run.stdout).toMatch(/params:\s+5258/);
    expect(manifestParams(path.join(dir, "cnn"))).toBe(5258);
  });

  it.each([
    [["--inputs", "64"], 2, "USAGE"],
    [["--inputs", "28x28", "--classes", "10"], 2, "MODEL_TEMPLATE_ARG"],
    [["--inputs", "64", "--classes", "1"], 2, "MODEL_TEMPLATE_ARG"],
    [["--inputs", "64", "--classes", "3", "--hidden", "64,,2"], 2, "MODEL_TEMPLATE_ARG"],
    [["--inputs", "64", "--classes", "3", "--template", "rnn"], 2, "MODEL_TEMPLATE_ARG"],
    [["--template", "cnn", "--inputs", "64", "--classes", "3"], 2, "MODEL_TEMPLATE_ARG"],
  ])("refuses %j with exit %i (%s) and writes nothing", async (flags, code, errorCode) => {
    const { dir } = tempDir();
    const target = path.join(dir, "m");

    const run = await runDat(["--json", "model", "init", target, ...(flags as string[])]);

    expect(run.code).toBe(code);
    expect(JSON.parse(run.stdout.trim()).error.code).toBe(errorCode);
    expect(fs.existsSync(path.join(target, "model.json"))).toBe(false);
  });

  it("refuses non-integer labels for a classifier, naming the file (exit 3)", async () => {
    const { dir } = tempDir();
    const csv = path.join(dir, "regression.csv");
    fs.writeFileSync(csv, "a,b,label\n1,2,0.25\n3,4,1.5\n");

    const run = await runDat(["model", "init", path.join(dir, "m"), "--from-data", csv]);

    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(new RegExp(`${csv.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}.*label 0.25 is not a class index`));
  });

  it("refuses a missing data file (exit 4) and an existing model without --force (exit 3)", async () => {
    const { dir } = tempDir();
    const target = path.join(dir, "m");
    expect((await runDat(["model", "init", target, "--from-data", path.join(dir, "nope.csv")])).code).toBe(4);
    expect((await runDat(["model", "init", target, "--inputs", "4", "--classes", "2"])).code).toBe(0);

    const again = await runDat(["model", "init", target, "--inputs", "4", "--classes", "2"]);
    const forced = await runDat(["model", "init", target, "--inputs", "8", "--classes", "2", "--force"]);

    expect(again.code).toBe(3);
    expect(again.stderr).toContain("already holds a model.json");
    expect(forced.code).toBe(0);
    expect(manifestParams(target)).toBe(8 * 64 + 64 + 64 * 2 + 2);
  });
});
