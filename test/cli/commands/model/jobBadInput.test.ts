/**
 * Bad input around a job's model and preprocessing (issue 14): each refused with exit 3, a message
 * naming the file (and the row, or both shapes) and nothing created or trained.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dat } from "../../../orchestrator/cli.js";
import { tempHome } from "../../../orchestrator/helpers.js";
import { writeDigitsCsv } from "./digits.js";

describe("dat job create / dat train refuse data that does not fit the model", () => {
  let work: string;
  let home: string;
  let digits: string;
  beforeAll(async () => {
    work = tempHome("dat-bad-");
    home = path.join(work, "home");
    digits = path.join(work, "digits.csv");
    writeDigitsCsv(digits, 40, 5);
    expect((await dat(home, ["init", "--json"])).code).toBe(0);
    expect((await dat(home, ["--json", "model", "init", path.join(work, "img"), "--inputs", "28x28x1", "--classes", "10"])).code).toBe(0);
    expect((await dat(home, ["--json", "model", "init", path.join(work, "m64"), "--inputs", "64", "--classes", "10"])).code).toBe(0);
  }, 120_000);
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  const create = (model: string, ...extra: string[]) =>
    dat(home, ["--json", "job", "create", "--model", path.join(work, model), "--rounds", "1", "--min-contributors", "1", "--validation", digits, "--label-column", "label", ...extra]);
  const jobCount = async (): Promise<number> => (await dat(home, ["--json", "job", "list"])).json.length;

  it("a 28×28 model with a 64-column validation CSV: exit 3, both shapes named, no job", async () => {
    const run = await create("img");
    expect(run.code).toBe(3);
    expect(run.stdout + run.stderr).toContain("digits.csv does not fit");
    expect(run.stdout + run.stderr).toMatch(/64 features per sample \[64\] and labels 0\.\.9; the model expects input \[28×28×1\] \(784 features\) and 10 classes/);
    expect(await jobCount()).toBe(0);
  });

  it("labels outside the model's classes: exit 3", async () => {
    const wide = path.join(work, "wide.csv");
    fs.writeFileSync(wide, fs.readFileSync(digits, "utf8").replace(/,9\n/, ",12\n"));
    const run = await dat(home, ["--json", "job", "create", "--model", path.join(work, "m64"), "--rounds", "1", "--min-contributors", "1", "--validation", wide, "--label-column", "label"]);
    expect(run.code).toBe(3);
    expect(run.stdout + run.stderr).toMatch(/wide\.csv, row \d+ \(line \d+\): label 12 is outside the model's 10 classes \(an integer 0\.\.9\)/);
    expect(await jobCount()).toBe(0);
  });

  it("NaN / Infinity in the validation data: exit 3 naming file, line and column", async () => {
    for (const bad of ["NaN", "Infinity"]) {
      const file = path.join(work, `bad-${bad}.csv`);
      const lines = fs.readFileSync(digits, "utf8").split("\n");
      lines[3] = lines[3].replace(/^\d+/, bad);
      fs.writeFileSync(file, lines.join("\n"));
      const run = await dat(home, ["--json", "job", "create", "--model", path.join(work, "m64"), "--rounds", "1", "--min-contributors", "1", "--validation", file, "--label-column", "label", "--normalize", "zscore"]);
      expect(run.code).toBe(3);
      expect(run.stdout + run.stderr).toMatch(new RegExp(`bad-${bad}\\.csv, line 4, field \\\\?"p0`));
    }
    expect(await jobCount()).toBe(0);
  });

  it("a stats file that does not match the model's inputs: exit 3; a good one is used as given", async () => {
    const stats = (n: number) => ({ count: 10, mean: new Array(n).fill(8), std: new Array(n).fill(4), min: new Array(n).fill(0), max: new Array(n).fill(16) });
    const wrong = path.join(work, "stats-wrong.json");
    fs.writeFileSync(wrong, JSON.stringify(stats(63)));
    const run = await create("m64", "--normalize", "zscore", "--normalize-stats", wrong);
    expect(run.code).toBe(3);
    expect(run.stdout + run.stderr).toMatch(/stats-wrong\.json has statistics for 63 features, the model has 64 inputs/);
    const malformed = path.join(work, "stats-bad.json");
    fs.writeFileSync(malformed, JSON.stringify({ ...stats(64), std: [...new Array(63).fill(1), -1] }));
    expect((await create("m64", "--normalize", "zscore", "--normalize-stats", malformed)).code).toBe(3);
    expect(await jobCount()).toBe(0);

    const good = path.join(work, "stats.json");
    fs.writeFileSync(good, JSON.stringify(stats(64)));
    const ok = await create("m64", "--normalize", "zscore", "--normalize-stats", good);
    expect(ok.code, ok.stderr).toBe(0);
    const shown = await dat(home, ["--json", "job", "show", String(ok.json.id)]);
    expect(shown.json.preprocess).toEqual({ kind: "zscore", stats: stats(64) });
  });

  it("dat train --model with data that does not fit: exit 3 with both shapes, nothing trained", async () => {
    const run = await dat(home, ["--json", "train", "--model", path.join(work, "img"), "--data", digits, "--label-column", "label", "--backend", "wasm"]);
    expect(run.code).toBe(3);
    expect(run.stdout + run.stderr).toMatch(/does not fit .*model\.json: the data has 64 features per sample \[64\].*the model expects input \[28×28×1\]/);
    expect(fs.existsSync(path.join(home, "runs")) ? fs.readdirSync(path.join(home, "runs")) : []).toEqual([]);
  });
});
