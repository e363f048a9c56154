import { describe, expect, it } from "vitest";
import { PNG } from "pngjs";
import { concatInputs, detectFormat, parseInputs, parseJsonValue, toPredictions, type InputSpec } from "../../src/inference/inputs.js";
import { parsePayload } from "../../src/inference/engine.js";
import { DatError } from "../../src/core/errors.js";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { readInputFiles } from "../../src/inference/service.js";

const tab: InputSpec = { shape: [3], labelColumn: "label" };
const img: InputSpec = { shape: [2, 2, 1] };
const bytes = (s: string) => new Uint8Array(Buffer.from(s, "utf8"));

function fails(run: () => unknown): DatError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DatError);
    return error as DatError;
  }
  throw new Error("expected an error");
}

function png(width: number, height: number, rgba: number[]): Uint8Array {
  const image = new PNG({ width, height });
  image.data = Buffer.from(rgba);
  return new Uint8Array(PNG.sync.write(image));
}

describe("JSON inputs", () => {
  it("reads one input, a batch, {inputs}, nested image arrays and flat ones", () => {
    expect(parseJsonValue([1, 2, 3], tab)).toMatchObject({ count: 1, sources: ["input"] });
    const batch = parseJsonValue([[1, 2, 3], [4, 5, 6]], tab);
    expect(batch.count).toBe(2);
    expect(Array.from(batch.values)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(parseJsonValue({ inputs: [[1, 2, 3]] }, tab).count).toBe(1);
    expect(parseJsonValue([[[0.1], [0.2]], [[0.3], [0.4]]], img).count).toBe(1);
    expect(parseJsonValue([[[[0.1], [0.2]], [[0.3], [0.4]]], [0.5, 0.6, 0.7, 0.8]], img).count).toBe(2);
    expect(Array.from(parseJsonValue({ b: 2, a: 1, c: 3 }, { shape: [3], columns: ["a", "b", "c"] }).values)).toEqual([1, 2, 3]);
  });

  it("names the input and field of every malformed form", () => {
    expect(fails(() => parseInputs(bytes("[1, 2,"), "json", tab, "x.json")).code).toBe("INPUT_MALFORMED");
    expect(fails(() => parseInputs(bytes("  "), "json", tab, "x.json")).code).toBe("INPUT_EMPTY");
    expect(fails(() => parseJsonValue([], tab)).code).toBe("INPUT_EMPTY");
    const short = fails(() => parseJsonValue([[1, 2, 3], [1, 2]], tab));
    expect(short.code).toBe("INPUT_SHAPE");
    expect(short.message).toContain("input[1]");
    expect(short.message).toContain("expected 3 values, got 2");
    const str = fails(() => parseJsonValue([[1, "2", 3]], tab));
    expect(str.code).toBe("INPUT_MALFORMED");
    expect(str.message).toContain("input[0][1]");
    expect(fails(() => parseJsonValue([1, null, 3], tab)).message).toContain("null is not a finite number");
    expect(fails(() => parseJsonValue("1,2,3", tab)).code).toBe("INPUT_SHAPE");
    expect(fails(() => parseJsonValue(42, tab)).code).toBe("INPUT_SHAPE");
    expect(fails(() => parseJsonValue({ a: 1 }, tab)).code).toBe("INPUT_SHAPE");
    expect(fails(() => parseJsonValue({ a: 1, b: 2 }, { shape: [3], columns: ["a", "b", "c"] })).message).toContain('missing field "c"');
    expect(fails(() => parseJsonValue([[[0.1], [0.2]], [[0.3]]], img)).message).toContain("input[1]");
    expect(fails(() => parseJsonValue([[1, 2, 3], [4, 5, 6]], { ...tab, maxBatch: 1 })).code).toBe("INPUT_TOO_MANY");
  });
});

describe("JSONL inputs", () => {
  it("reads one input per line, skipping blank lines", () => {
    const parsed = parseInputs(bytes("[1,2,3]\n\n{\"input\":[4,5,6]}\n"), "jsonl", tab, "x.jsonl");
    expect(parsed.count).toBe(2);
    expect(parsed.sources).toEqual(["line 1", "line 3"]);
  });

  it("names the line of a bad one", () => {
    const bad = fails(() => parseInputs(bytes("[1,2,3]\n[1,2\n"), "jsonl", tab, "x.jsonl"));
    expect(bad.code).toBe("INPUT_MALFORMED");
    expect(bad.message).toContain("x.jsonl line 2");
    const shape = fails(() => parseInputs(bytes("[1,2,3]\n[1,2,3,4]\n"), "jsonl", tab, "x.jsonl"));
    expect(shape.code).toBe("INPUT_SHAPE");
    expect(shape.message).toContain("line 2");
    expect(fails(() => parseInputs(bytes("\n\n"), "jsonl", tab, "x.jsonl")).code).toBe("INPUT_EMPTY");
  });
});

describe("CSV inputs", () => {
  it("reads the feature columns, ignoring the label column, with quoted fields", () => {
    const parsed = parseInputs(bytes('a,label,b,c\n1,x,2,3\n"4",y,5,6\n'), "csv", tab, "x.csv");
    expect(parsed.count).toBe(2);
    expect(Array.from(parsed.values)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("uses the job's columns in the model's order", () => {
    const parsed = parseInputs(bytes("c,b,a,extra\n3,2,1,9\n"), "csv", { shape: [3], columns: ["a", "b", "c"] }, "x.csv");
    expect(Array.from(parsed.values)).toEqual([1, 2, 3]);
  });

  it("names the line and column of every malformed form", () => {
    expect(fails(() => parseInputs(bytes("a,b\n1,2\n"), "csv", tab, "x.csv")).code).toBe("INPUT_SHAPE");
    const missing = fails(() => parseInputs(bytes("a,b,d\n1,2,3\n"), "csv", { shape: [3], columns: ["a", "b", "c"] }, "x.csv"));
    expect(missing.message).toContain('"c"');
    const fields = fails(() => parseInputs(bytes("a,b,c\n1,2,3\n1,2\n"), "csv", tab, "x.csv"));
    expect(fields.message).toContain("x.csv line 3: expected 3 fields, got 2");
    const nan = fails(() => parseInputs(bytes("a,b,c\n1,abc,3\n"), "csv", tab, "x.csv"));
    expect(nan.message).toContain('x.csv line 2, column "b": "abc" is not a finite number');
    expect(fails(() => parseInputs(bytes("a,b,c\n1,,3\n"), "csv", tab, "x.csv")).code).toBe("INPUT_MALFORMED");
    expect(fails(() => parseInputs(bytes('a,b,c\n1,"2,3\n'), "csv", tab, "x.csv")).message).toContain("unterminated");
    expect(fails(() => parseInputs(bytes("a,b,c\n"), "csv", tab, "x.csv")).code).toBe("INPUT_EMPTY");
    expect(fails(() => parseInputs(bytes(""), "csv", tab, "x.csv")).code).toBe("INPUT_EMPTY");
  });
});

describe("PNG inputs", () => {
  it("reads a grayscale image scaled to [0, 1], and RGB for 3 channels", () => {
    const image = png(2, 2, [255, 255, 255, 255, 0, 0, 0, 255, 255, 0, 0, 255, 0, 0, 255, 255]);
    const gray = parseInputs(image, "png", img, "a.png");
    expect(gray.values[0]).toBeCloseTo(1);
    expect(gray.values[1]).toBeCloseTo(0);
    expect(gray.values[2]).toBeCloseTo(0.299, 3);
    const rgb = parseInputs(image, "png", { shape: [2, 2, 3] }, "a.png");
    expect(Array.from(rgb.values.subarray(6, 9))).toEqual([1, 0, 0]);
  });

  it("rejects a wrong size, a non-image model and bytes that are not a PNG", () => {
    const image = png(2, 2, new Array(16).fill(0));
    expect(fails(() => parseInputs(image, "png", { shape: [3, 3, 1] }, "a.png")).message).toContain("2×2 pixels; the model expects 3×3");
    expect(fails(() => parseInputs(image, "png", tab, "a.png")).code).toBe("INPUT_SHAPE");
    expect(fails(() => parseInputs(bytes("not a png"), "png", img, "a.png")).code).toBe("INPUT_MALFORMED");
    expect(fails(() => parseInputs(image.subarray(0, 30), "png", img, "a.png")).code).toBe("INPUT_MALFORMED");
  });
});

describe("formats, batches and predictions", () => {
  it("detects formats by name and by content", () => {
    expect(detectFormat("a.PNG", bytes(""))).toBe("png");
    expect(detectFormat("a.csv", bytes(""))).toBe("csv");
    expect(detectFormat("a.jsonl", bytes(""))).toBe("jsonl");
    expect(detectFormat("a", bytes("[1,2]"))).toBe("json");
    expect(detectFormat("a", bytes("[1,2]\n[3,4]"))).toBe("jsonl");
    expect(detectFormat("a", png(1, 1, [0, 0, 0, 0]))).toBe("png");
    expect(detectFormat("a", bytes("x,y\n1,2"))).toBe("csv");
  });

  it("joins files into one batch and parses HTTP payloads", () => {
    const a = parseJsonValue([1, 2, 3], tab);
    const b = parseInputs(bytes("a,b,c\n4,5,6\n"), "csv", tab, "b.csv");
    expect(concatInputs([a, b], tab).sources).toEqual(["input", "line 2"]);
    const payload = parsePayload({ inputs: [1, 2, 3], files: [{ format: "csv", data: "a,b,c\n4,5,6\n" }] }, tab);
    expect(payload.count).toBe(2);
    expect(fails(() => parsePayload({}, tab)).code).toBe("INPUT_EMPTY");
    expect(fails(() => parsePayload({ files: [{ format: "xml" as never, data: "<a/>" }] }, tab)).code).toBe("INPUT_FORMAT");
  });

  it("turns outputs into classes and probabilities", () => {
    const softmax = toPredictions(new Float32Array([0.1, 0.9, 0.7, 0.3]), 2, ["l1", "l2"], ["cat", "dog"]);
    expect(softmax.map((p) => p.class)).toEqual(["dog", "cat"]);
    expect(softmax[0].probabilities).toEqual([0.1, 0.9]);
    const sigmoid = toPredictions(new Float32Array([0.8]), 1, ["x"]);
    expect(sigmoid[0]).toMatchObject({ classIndex: 1, class: "1" });
    expect(sigmoid[0].probabilities[0]).toBeCloseTo(0.2, 5);
  });
});

describe("one CSV splitter for training data and inference inputs", () => {
  it("parses quotes, escaped quotes, CRLF and a trailing newline the same way on both paths", async () => {
    const { splitCsvLine } = await import("../../src/train/data/csv.js");
    const header = 'id,"x,1","x ""2"""';
    const line = '"row, one", 1.5 ,"-2"';
    const text = `${header}\r\n${line}\r\n`;

    // Training's splitter, line by line (a CR left over from a CRLF ending included).
    const trainHeader = splitCsvLine(header + "\r");
    const trainCells = splitCsvLine(line + "\r");
    expect(trainHeader).toEqual(["id", "x,1", 'x "2"']);
    expect(trainCells).toEqual(["row, one", "1.5", "-2"]);

    // Inference's parser picks the same columns by the names training's splitter read.
    const parsed = parseInputs(bytes(text), "csv", { shape: [2], columns: trainHeader.slice(1) });
    expect(parsed.count).toBe(1);
    expect([...parsed.values]).toEqual(trainCells.slice(1).map(Number));
    expect(parsed.sources).toEqual(["line 2"]);
  });

  it("refuses an unterminated quoted field in an inference input", () => {
    const error = fails(() => parseInputs(bytes('a,b\n"1,2\n'), "csv", { shape: [2] }));
    expect(error.code).toBe("INPUT_MALFORMED");
    expect(error.message).toContain("unterminated quoted field");
  });
});

describe("training records (what dat train reads)", () => {
  const plain: InputSpec = { shape: [3] };
  it("reads {x, y?} records in JSON, JSONL and a CSV with its label column", () => {
    expect(Array.from(parseJsonValue({ x: [1, 2, 3], y: 1 }, plain).values)).toEqual([1, 2, 3]);
    expect(parseJsonValue([{ x: [1, 2, 3] }, { x: [4, 5, 6], y: 0 }], plain).count).toBe(2);
    const jsonl = parseInputs(bytes('{"x":[1,2,3],"y":2}\n{"x":[4,5,6]}\n'), "jsonl", plain, "r.jsonl");
    expect(Array.from(jsonl.values)).toEqual([1, 2, 3, 4, 5, 6]);
    const csv = parseInputs(bytes("a,b,c,label\n1,2,3,0\n"), "csv", plain, "t.csv");
    expect(Array.from(csv.values)).toEqual([1, 2, 3]);
    expect(parseInputs(bytes("a,b,c\n1,2,3\n"), "csv", plain, "t.csv").count).toBe(1);
  });
  it("refuses malformed records with the line named", () => {
    expect(fails(() => parseInputs(bytes('{"x":[1,2]}\n'), "jsonl", plain, "r.jsonl")).message).toMatch(/r\.jsonl line 1: expected 3 values/);
    expect(fails(() => parseInputs(bytes('{"x":"abc"}\n'), "jsonl", plain, "r.jsonl")).code).toBe("INPUT_SHAPE");
    expect(fails(() => parseInputs(bytes("a,b,c,d\n1,2,3,4\n"), "csv", plain, "t.csv")).code).toBe("INPUT_SHAPE");
  });
});

describe("a folder of PNGs as inference input", () => {
  it("reads every PNG under the folder in path order, named by its path there, and refuses a folder without one", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dat-pngs-"));
    try {
      fs.mkdirSync(path.join(dir, "7"));
      fs.mkdirSync(path.join(dir, "3"));
      fs.writeFileSync(path.join(dir, "7", "b.png"), png(2, 2, new Array(16).fill(255)));
      fs.writeFileSync(path.join(dir, "3", "a.PNG"), png(2, 2, new Array(16).fill(0)));
      fs.writeFileSync(path.join(dir, "top.png"), png(2, 2, [0, 0, 0, 255, 255, 255, 255, 255, 0, 0, 0, 255, 255, 255, 255, 255]));
      fs.writeFileSync(path.join(dir, "notes.txt"), "not an image");

      const files = readInputFiles([dir]);
      expect(files.map((f) => [f.name, f.format, f.encoding])).toEqual([
        ["3/a.PNG", "png", "base64"], ["7/b.png", "png", "base64"], ["top.png", "png", "base64"],
      ]);
      // What the engine parses from them: three 2×2 grey images, black, white, striped.
      const parsed = concatInputs(files.map((f) => parseInputs(new Uint8Array(Buffer.from(f.data, "base64")), "png", img, f.name!)), img);
      expect(parsed.count).toBe(3);
      expect(parsed.sources).toEqual(["3/a.PNG", "7/b.png", "top.png"]);
      expect(Array.from(parsed.values.subarray(0, 4))).toEqual([0, 0, 0, 0]);
      expect(Array.from(parsed.values.subarray(4, 8))).toEqual([1, 1, 1, 1]);

      const empty = path.join(dir, "empty");
      fs.mkdirSync(empty);
      expect(fails(() => readInputFiles([empty])).code).toBe("INPUT_EMPTY");
      expect(fails(() => readInputFiles([dir], "csv")).code).toBe("INPUT_FORMAT");
      expect(fails(() => readInputFiles([path.join(dir, "missing")])).code).toBe("INPUT_UNREADABLE");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
