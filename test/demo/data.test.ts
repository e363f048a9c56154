/**
 * `prepareDemoData` on real files the loaders read: a CSV with a chosen label column and a
 * held-out split, a separate --test file, an IDX pair, a PNG folder; and the errors a bad --data
 * gives (missing path, wrong label column, labels that are not classes, too little data).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DatError, ExitCode } from "../../src/core/errors.js";
import { prepareDemoData, type PrepareDemoDataOptions } from "../../src/demo/data.js";
import { writeBandIdx, writeBandPngFolder, writeClusterCsv } from "./dataFiles.js";

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dat-demo-data-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const base: PrepareDemoDataOptions = { contributors: 3, partition: "iid", seed: 5, samples: 0, testSplit: 0.2 };

async function failure(options: PrepareDemoDataOptions): Promise<DatError> {
  try {
    await prepareDemoData(options);
  } catch (error) {
    expect(error).toBeInstanceOf(DatError);
    return error as DatError;
  }
  throw new Error("prepareDemoData did not fail");
}

describe("prepareDemoData with --data", () => {
  it("splits a CSV by --label-column and holds out --test-split for validation", async () => {
    // Prepare
    const file = path.join(dir, "clusters.csv");
    writeClusterCsv(file, 150);

    // Execute
    const data = await prepareDemoData({ ...base, data: file, labelColumn: "kind", testSplit: 0.2 });

    // Assert
    expect(data.featureShape).toEqual([4]);
    expect(data.classes).toBe(3);
    expect(data.validation.size).toBe(30);
    expect(data.shards.map((s) => s.size)).toEqual([40, 40, 40]);
    const labels = new Set<number>();
    for await (const sample of data.validation.read()) {
      expect(sample.x).toHaveLength(4);
      labels.add(sample.y);
    }
    expect([...labels].every((y) => y >= 0 && y <= 2)).toBe(true);
  });

  it("uses --test as the validation set instead of a split", async () => {
    const train = path.join(dir, "train.csv");
    const test = path.join(dir, "test.csv");
    writeClusterCsv(train, 90, 1);
    writeClusterCsv(test, 21, 2);

    const data = await prepareDemoData({ ...base, data: train, test, labelColumn: "kind" });

    expect(data.validation.size).toBe(21);
    expect(data.shards.reduce((n, s) => n + s.size, 0)).toBe(90);
  });

  it("reads an IDX pair (folder) as 8×8×1 images", async () => {
    writeBandIdx(path.join(dir, "idx"), 60);

    const data = await prepareDemoData({ ...base, data: path.join(dir, "idx") });

    expect(data.featureShape).toEqual([8, 8, 1]);
    expect(data.classes).toBe(3);
    expect(data.validation.size).toBe(12);
    expect(data.shards.reduce((n, s) => n + s.size, 0)).toBe(48);
  });

  it("reads a PNG folder with one sub-folder per class", async () => {
    writeBandPngFolder(path.join(dir, "png"), 10);

    const data = await prepareDemoData({ ...base, data: path.join(dir, "png"), testSplit: 0.1 });

    expect(data.featureShape).toEqual([8, 8, 1]);
    expect(data.classes).toBe(3);
    expect(data.validation.size).toBe(3);
  });

  it("names a missing --data path (not found, exit 4)", async () => {
    const error = await failure({ ...base, data: path.join(dir, "nope.csv") });
    expect(error.exitCode).toBe(ExitCode.notFound);
    expect(error.message).toContain("nope.csv");
  });

  it("names the wrong --label-column and lists the columns (user error, exit 3)", async () => {
    const file = path.join(dir, "clusters.csv");
    writeClusterCsv(file, 30);
    const error = await failure({ ...base, data: file, labelColumn: "species" });
    expect(error.exitCode).toBe(ExitCode.user);
    expect(error.code).toBe("DATA_LABEL_COLUMN");
    expect(error.message).toContain("a, b, kind, c, d");
  });

  it("refuses a label column that is not class indices", async () => {
    // "d" is a continuous feature: a regression target, not classes.
    const file = path.join(dir, "clusters.csv");
    writeClusterCsv(file, 30);
    const error = await failure({ ...base, data: file, labelColumn: "d" });
    expect(error.code).toBe("DEMO_DATA_LABELS");
    expect(error.hint).toContain("--label-column");
  });

  it("refuses data too small for the contributors, and a file of unknown format", async () => {
    const small = path.join(dir, "small.csv");
    writeClusterCsv(small, 3);
    expect((await failure({ ...base, data: small, labelColumn: "kind" })).code).toBe("DEMO_DATA_TOO_SMALL");
    const odd = path.join(dir, "data.parquet");
    fs.writeFileSync(odd, "x");
    expect((await failure({ ...base, data: odd })).code).toBe("DATA_FORMAT");
  });
});
