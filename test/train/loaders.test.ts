import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { PNG } from "pngjs";
import { beforeAll, describe, expect, it } from "vitest";
import { resolveBackend } from "../../src/train/backends.js";
import { encodeIdx } from "../../src/train/data/idx.js";
import { openCsv, scanNumericRow } from "../../src/train/data/csv.js";
import { openDataSource } from "../../src/train/data/open.js";
import { materialize } from "../../src/train/data/source.js";
import { loadModelDir } from "../../src/train/modelIo.js";
import { buildTemplateModel } from "../../src/train/modelTemplates.js";
import { createRng } from "../../src/train/rng.js";
import { checkDataFitsModel } from "../../src/train/trainLocal.js";

const fixtures = path.resolve(__dirname, "../../fixtures");

function tmpTree(files: Record<string, string | Buffer>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "dat-data-"));
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), content);
  }
  return root;
}

function png(width: number, height: number, value: number): Buffer {
  const image = new PNG({ width, height });
  image.data.fill(value);
  for (let i = 3; i < image.data.length; i += 4) image.data[i] = 255;
  return PNG.sync.write(image);
}

async function rejects(promise: Promise<unknown>, pattern: RegExp, code?: string): Promise<void> {
  const error = (await promise.then(() => undefined, (e: unknown) => e)) as { message: string; code?: string } | undefined;
  expect(error, "expected an error").toBeDefined();
  expect(error!.message).toMatch(pattern);
  if (code) expect(error!.code).toBe(code);
}

describe("CSV loader", () => {
  it("scans plain decimal cells to the doubles Number() gives, and leaves every other form to Number()", () => {
    // Prepare: random decimals of 1–20 digits, points anywhere, signs, exponents.
    const rng = createRng(11);
    const digits = (n: number): string => Array.from({ length: n }, () => String(rng.int(10))).join("");
    const cell = (): string => {
      const whole = digits(rng.int(10));
      const fraction = rng.next() < 0.6 ? "." + digits(rng.int(11)) : "";
      const exponent = rng.next() < 0.25 ? (rng.next() < 0.5 ? "e" : "E") + ["", "-", "+"][rng.int(3)] + digits(1 + rng.int(3)) : "";
      return ["", "-", "+"][rng.int(3)] + (whole + fraction || "0") + exponent;
    };
    const out = new Float64Array(6);
    let scanned = 0;
    for (let r = 0; r < 5000; r++) {
      const cells = Array.from({ length: 6 }, cell);
      // Act
      const ok = scanNumericRow(cells.join(","), 6, out);
      // Assert: what the scan takes is exactly Number()'s value (-0 included).
      if (!ok) continue;
      scanned++;
      cells.forEach((c, k) => {
        if (!Object.is(out[k], Number(c))) expect.fail(`${c}: scanned ${out[k]}, Number() gives ${Number(c)}`);
      });
    }
    expect(scanned).toBeGreaterThan(1000);
    for (const [line, width] of [
      [" 1,2", 2], ["1 ,2", 2], ['"1",2', 2], ["1,abc", 2], ["1,", 2], [",1", 2], ["1,2,3", 2], ["1,2", 3], ["1e,2", 2], ["-,2", 2],
      ["0x10,2", 2], ["1e400,2", 2], ["Infinity,2", 2], ["1.2.3,4", 2], ["1234567890123456,2", 2], ["1;2", 2],
    ] as const) {
      expect(scanNumericRow(line, width, out), line).toBe(false);
    }
    expect(scanNumericRow("1.5,-2e3\r", 2, out)).toBe(true);
    expect(Array.from(out.subarray(0, 2))).toEqual([1.5, -2000]);
  });

  it("reads rows of every form the same: spaces, quotes, CRLF endings, exponents, long mantissas", async () => {
    const dir = tmpTree({ "d.csv": 'a,b,label\r\n 1.5 ,"2",0\r\n1e-3,-0.25,1\r\n0.12345678901234567,+7,1\r\n' });
    const { x, y } = await materialize(await openDataSource(path.join(dir, "d.csv")));
    expect(Array.from(x)).toEqual(Array.from(new Float32Array([1.5, 2, 1e-3, -0.25, Number("0.12345678901234567"), 7])));
    expect(Array.from(y)).toEqual([0, 1, 1]);
  });

  it("streams rows with the label column and normalises features", async () => {
    const dir = tmpTree({ "d.csv": "a,b,label\n1,10,0\n3,30,1\n\n5,50,2\n" });
    const data = await openDataSource(path.join(dir, "d.csv"), { normalize: "minmax" });
    const { x, y } = await materialize(data);
    expect(data.featureShape).toEqual([2]);
    expect(Array.from(y)).toEqual([0, 1, 2]);
    expect(Array.from(x)).toEqual([0, 0, 0.5, 0.5, 1, 1]);
  });

  it("reads gzipped CSV and a named label column in the middle", async () => {
    const dir = tmpTree({ "d.csv.gz": zlib.gzipSync("f1,cls,f2\n0.5,1,2\n") });
    const data = await openDataSource(path.join(dir, "d.csv.gz"), { labelColumn: "cls" });
    const { x, y } = await materialize(data);
    expect(Array.from(x)).toEqual([0.5, 2]);
    expect(Array.from(y)).toEqual([1]);
  });

  it("z-score normalisation centres each feature", async () => {
    const dir = tmpTree({ "d.csv": "a,label\n1,0\n3,0\n" });
    const { x } = await materialize(await openDataSource(path.join(dir, "d.csv"), { normalize: "zscore" }));
    expect(Array.from(x)).toEqual([-1, 1]);
  });

  it("names the missing label column", async () => {
    const dir = tmpTree({ "d.csv": "a,b\n1,2\n" });
    await rejects(openDataSource(path.join(dir, "d.csv"), { labelColumn: "target" }), /d\.csv, line 1, field "target": no label column "target"/, "DATA_LABEL_COLUMN");
  });

  it("names the line and column of a non-numeric cell", async () => {
    const dir = tmpTree({ "d.csv": "a,b,label\n1,2,0\n1,abc,1\n" });
    await rejects(openDataSource(path.join(dir, "d.csv")), /d\.csv, line 3, field "b": "abc" is not a number/, "DATA_NOT_NUMERIC");
  });

  it("names the line of a row of the wrong width", async () => {
    const dir = tmpTree({ "d.csv": "a,b,label\n1,2,0\n1,2\n" });
    await rejects(openDataSource(path.join(dir, "d.csv")), /line 3: row has 2 cells, the header has 3/, "DATA_ROW_WIDTH");
  });

  it("keeps a small file in memory after validation: the same samples as streaming, every epoch, the file no longer read", async () => {
    // Prepare: random decimals, a label in the middle, every normalisation.
    const rng = createRng(5);
    const rows = Array.from({ length: 40 }, () => [rng.next() * 9 - 3, rng.int(4), rng.next() * 1e4, -rng.next()].map((v) => String(v)).join(","));
    const dir = tmpTree({ "d.csv": "a,label,b,c\n" + rows.join("\n") + "\n" });
    const file = path.join(dir, "d.csv");
    for (const normalize of ["none", "minmax", "zscore"] as const) {
      // Act: one source kept in memory, one streamed (a cache too small for the file).
      const cached = await openCsv(file, { normalize, labelColumn: "label" });
      const streamed = await openCsv(file, { normalize, labelColumn: "label", cacheValues: 4 * 40 - 1 });
      const first = await materialize(cached);
      const expected = await materialize(streamed);
      // Assert: bit for bit, and again on a second epoch after the file is gone.
      expect(first.x).toEqual(expected.x);
      expect(first.y).toEqual(expected.y);
      fs.renameSync(file, file + ".moved");
      expect(await materialize(cached)).toEqual(first);
      await rejects(materialize(streamed), /ENOENT|no such file/);
      fs.renameSync(file + ".moved", file);
    }
  });

  it("rejects an empty file and a header without rows", async () => {
    const dir = tmpTree({ "e.csv": "", "h.csv": "a,label\n" });
    await rejects(openDataSource(path.join(dir, "e.csv")), /e\.csv: the file is empty/, "DATA_EMPTY");
    await rejects(openDataSource(path.join(dir, "h.csv")), /header but no rows/, "DATA_EMPTY");
  });
});

describe("JSONL loader", () => {
  it("reads nested x arrays and labels", async () => {
    const dir = tmpTree({ "d.jsonl": '{"x":[[1,2],[3,4]],"y":1}\n{"x":[[5,6],[7,8]],"y":0}\n' });
    const data = await openDataSource(path.join(dir, "d.jsonl"));
    expect(data.featureShape).toEqual([2, 2]);
    expect(Array.from((await materialize(data)).x)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it.each([
    ['{"x":[1,2],"y":0}\nnot json\n', /line 2: not JSON/, "DATA_NOT_JSON"],
    ['{"x":[1,2]}\n', /line 1, field "y": missing/, "DATA_LABEL_COLUMN"],
    ['{"y":1}\n', /line 1, field "x": missing/, "DATA_MISSING_FIELD"],
    ['{"x":[1,"a"],"y":0}\n', /line 1, field "x": must be an array of numbers/, "DATA_NOT_NUMERIC"],
    ['{"x":[1,2],"y":0}\n{"x":[1,2,3],"y":0}\n', /line 2, field "x": has shape \[3\], earlier lines have \[2\]/, "DATA_ROW_WIDTH"],
    ['{"x":[1,2],"y":"cat"}\n', /line 1, field "y": "cat" is not a number/, "DATA_NOT_NUMERIC"],
    ["", /the file is empty/, "DATA_EMPTY"],
  ])("rejects %j", async (content, pattern, code) => {
    const dir = tmpTree({ "d.jsonl": content });
    await rejects(openDataSource(path.join(dir, "d.jsonl")), pattern, code);
  });
});

describe("IDX loader", () => {
  const images = new Uint8Array([0, 255, 128, 0, 10, 20, 30, 40]);
  const labels = new Uint8Array([3, 7]);

  it("reads an images/labels pair, gzipped or not", async () => {
    const pair = encodeIdx(images, 2, 2, 2, labels);
    const dir = tmpTree({
      "plain/t-images-idx3-ubyte": pair.images,
      "plain/t-labels-idx1-ubyte": pair.labels,
      "gz/t-images-idx3-ubyte.gz": zlib.gzipSync(pair.images),
      "gz/t-labels-idx1-ubyte.gz": zlib.gzipSync(pair.labels),
    });
    for (const data of [await openDataSource(path.join(dir, "plain/t-images-idx3-ubyte")), await openDataSource(path.join(dir, "gz"))]) {
      const { x, y } = await materialize(data);
      expect(data.featureShape).toEqual([2, 2, 1]);
      expect(Array.from(y)).toEqual([3, 7]);
      expect(x[1]).toBe(1);
      expect(x[2]).toBeCloseTo(128 / 255, 6);
    }
  });

  it("rejects a truncated images file, a label count mismatch and a bad magic number", async () => {
    const pair = encodeIdx(images, 2, 2, 2, labels);
    const short = encodeIdx(images, 2, 2, 2, new Uint8Array([1]));
    short.labels.writeUInt32BE(1, 4);
    const dir = tmpTree({
      "a/x-images-idx3-ubyte": pair.images.subarray(0, pair.images.length - 1),
      "a/x-labels-idx1-ubyte": pair.labels,
      "b/x-images-idx3-ubyte": pair.images,
      "b/x-labels-idx1-ubyte": short.labels,
      "c/x-images-idx3-ubyte": Buffer.from("hello world, not idx"),
      "c/x-labels-idx1-ubyte": pair.labels,
    });
    await rejects(openDataSource(path.join(dir, "a/x-images-idx3-ubyte")), /x-images-idx3-ubyte: truncated/);
    await rejects(openDataSource(path.join(dir, "b")), /holds 1 labels for 2 images/);
    await rejects(openDataSource(path.join(dir, "c")), /not an IDX file/);
  });
});

describe("PNG folder loader", () => {
  it("labels images by class folder and scales pixels", async () => {
    const dir = tmpTree({ "0/a.png": png(4, 3, 0), "1/b.png": png(4, 3, 255), "1/c.png": png(4, 3, 51) });
    const data = await openDataSource(dir);
    const { x, y } = await materialize(data);
    expect(data.featureShape).toEqual([3, 4, 1]);
    expect(Array.from(y)).toEqual([0, 1, 1]);
    expect(x[12]).toBeCloseTo(1, 5);
    expect(x[24]).toBeCloseTo(0.2, 5);
  });

  it("names the image of the wrong size and the file that is not a PNG", async () => {
    const sized = tmpTree({ "0/a.png": png(28, 28, 0), "1/b.png": png(27, 28, 0) });
    await rejects(openDataSource(sized, { inputShape: [28, 28, 1] }), /1\/b\.png: image is 27×28, expected 28×28/, "DATA_IMAGE_SIZE");
    const broken = tmpTree({ "0/a.png": "not a png at all, really not" });
    await rejects(openDataSource(broken), /a\.png: not a PNG image/, "DATA_NOT_PNG");
    await rejects(openDataSource(tmpTree({ "readme.txt": "x" })), /no class sub-folders/, "DATA_EMPTY");
  });
});

describe("data against the model, before training", () => {
  beforeAll(async () => {
    await resolveBackend("cpu");
  });

  it("names the file, row and value of a CSV label outside the model's classes", async () => {
    const row = (label: string): string => `1,1,1,1,1,1,1,1,${label}\n`;
    // Line 1 is the header, line 3 blank: the largest label 5 is data row 3 on line 5.
    const dir = tmpTree({ "d.csv": "a,b,c,d,e,f,g,h,label\n" + row("0") + "\n" + row("2") + row("5") + row("5"), "f.csv": "a,b,c,d,e,f,g,h,label\n" + row("1") + row("1.5") + row("7") });
    const model = await loadModelDir(path.join(fixtures, "mlp-tabular"));
    const data = await openDataSource(path.join(dir, "d.csv"));
    expect(() => checkDataFitsModel(model, data)).toThrow(/d\.csv, row 3 \(line 5\): label 5 is outside the model's 3 classes \(an integer 0\.\.2\)/);
    expect(() => checkDataFitsModel(model, data)).toThrow(expect.objectContaining({ code: "DATA_LABEL_RANGE", exitCode: 3, data: expect.objectContaining({ row: 3, line: 5, label: 5 }) }));
    // A label that is no class index is named before a larger, whole one.
    const fractional = await openDataSource(path.join(dir, "f.csv"));
    expect(() => checkDataFitsModel(model, fractional)).toThrow(/f\.csv, row 2 \(line 3\): label 1\.5 is outside the model's 3 classes/);
    model.dispose();
  });

  it("names the labels file, record and value of an IDX label outside the model's classes", async () => {
    const pair = encodeIdx(new Uint8Array(4 * 4), 4, 2, 2, new Uint8Array([3, 9, 12, 4]));
    const dir = tmpTree({ "t-images-idx3-ubyte": pair.images, "t-labels-idx1-ubyte": pair.labels });
    const model = buildTemplateModel({ template: "mlp", inputs: [2, 2, 1], classes: 10, hidden: [4] });
    const data = await openDataSource(path.join(dir, "t-images-idx3-ubyte"));
    expect(() => checkDataFitsModel(model, data)).toThrow(/t-labels-idx1-ubyte, row 3: label 12 is outside the model's 10 classes \(an integer 0\.\.9\)/);
    expect(() => checkDataFitsModel(model, data)).toThrow(
      expect.objectContaining({ code: "DATA_LABEL_RANGE", data: expect.objectContaining({ file: path.join(dir, "t-labels-idx1-ubyte"), row: 3, label: 12 }) }),
    );
    model.dispose();
  });

  it("names the line of a JSONL label outside the model's classes", async () => {
    const dir = tmpTree({ "d.jsonl": ['{"x":[1,2,3,4,5,6,7,8],"y":0}', '{"x":[1,2,3,4,5,6,7,8],"y":-1}'].join("\n") + "\n" });
    const model = await loadModelDir(path.join(fixtures, "mlp-tabular"));
    const data = await openDataSource(path.join(dir, "d.jsonl"));
    expect(() => checkDataFitsModel(model, data)).toThrow(/d\.jsonl, row 2: label -1 is outside the model's 3 classes/);
    model.dispose();
  });

  it("rejects data whose width does not match the model's input", async () => {
    const dir = tmpTree({ "d.csv": "a,b,label\n1,2,0\n" });
    const model = await loadModelDir(path.join(fixtures, "mlp-digits"));
    const data = await openDataSource(path.join(dir, "d.csv"));
    expect(() => checkDataFitsModel(model, data)).toThrow(/d\.csv does not fit the model: the data has 2 features per sample \[2\] and labels 0\.\.0; the model expects input \[28×28×1\] \(784 features\) and 10 classes/);
    model.dispose();
  });

  it("accepts flat rows for an image model of the same size", async () => {
    const row = Array.from({ length: 784 }, () => "0").join(",");
    const header = Array.from({ length: 784 }, (_, i) => `p${i}`).join(",");
    const dir = tmpTree({ "d.csv": `${header},label\n${row},9\n` });
    const model = await loadModelDir(path.join(fixtures, "mlp-digits"));
    expect(checkDataFitsModel(model, await openDataSource(path.join(dir, "d.csv"))).inputShape).toEqual([28, 28, 1]);
    model.dispose();
  });

  it("rejects an unknown data format", async () => {
    const dir = tmpTree({ "d.parquet": "x" });
    await rejects(openDataSource(path.join(dir, "d.parquet")), /Cannot tell the format/, "DATA_FORMAT");
  });
});
