/**
 * JSONL loader: one `{"x": [...], "y": label}` object per line; x may be nested (e.g. 28×28) and
 * every line must have the shape of the first. Streamed; validated before training starts.
 */
import { dataError, assertReadableFile, readLines } from "./lines.js";
import { labelScan, type DataSource, type Sample } from "./source.js";

function shapeOf(value: unknown): number[] | undefined {
  if (!Array.isArray(value)) return typeof value === "number" ? [] : undefined;
  if (value.length === 0) return [0];
  const inner = shapeOf(value[0]);
  return inner === undefined ? undefined : [value.length, ...inner];
}

function flattenInto(value: unknown, out: number[]): boolean {
  if (Array.isArray(value)) return value.every((v) => flattenInto(v, out));
  if (typeof value !== "number" || !Number.isFinite(value)) return false;
  out.push(value);
  return true;
}

function parseLine(file: string, line: number, text: string, expected: number[] | undefined): { x: number[]; y: number; shape: number[] } {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (error) {
    throw dataError(file, `not JSON: ${(error as Error).message}`, { line, code: "DATA_NOT_JSON" });
  }
  if (!obj || typeof obj !== "object" || Array.isArray(obj)) throw dataError(file, 'expected an object {"x": [...], "y": …}.', { line });
  const record = obj as { x?: unknown; y?: unknown };
  if (record.x === undefined) throw dataError(file, "missing.", { line, field: "x", code: "DATA_MISSING_FIELD" });
  if (record.y === undefined) throw dataError(file, "missing.", { line, field: "y", code: "DATA_LABEL_COLUMN" });
  const shape = shapeOf(record.x);
  const x: number[] = [];
  if (!shape || shape.length === 0 || !flattenInto(record.x, x)) {
    throw dataError(file, "must be an array of numbers (nested arrays allowed).", { line, field: "x", code: "DATA_NOT_NUMERIC" });
  }
  if (x.length !== shape.reduce((a, b) => a * b, 1)) throw dataError(file, "nested arrays are ragged.", { line, field: "x", code: "DATA_ROW_WIDTH" });
  if (expected && shape.join("×") !== expected.join("×")) {
    throw dataError(file, `has shape [${shape.join("×")}], earlier lines have [${expected.join("×")}].`, { line, field: "x", code: "DATA_ROW_WIDTH" });
  }
  const y = record.y;
  if (typeof y !== "number" || !Number.isFinite(y)) throw dataError(file, `${JSON.stringify(y)} is not a number.`, { line, field: "y", code: "DATA_NOT_NUMERIC" });
  return { x, y, shape };
}

/** Open and validate a JSONL file; the returned source streams it again for each epoch. */
export async function openJsonl(file: string): Promise<DataSource> {
  assertReadableFile(file);
  let shape: number[] | undefined;
  let count = 0;
  const labels = labelScan(file);
  for await (const { line, text } of readLines(file)) {
    if (text.trim() === "") continue;
    const parsed = parseLine(file, line, text, shape);
    shape ??= parsed.shape;
    labels.see(parsed.y, count + 1, line);
    count++;
  }
  if (!shape || count === 0) throw dataError(file, "the file is empty.", { code: "DATA_EMPTY" });
  const featureShape = shape;
  return {
    name: file,
    featureShape,
    size: count,
    ...labels.facts(),
    async *read(): AsyncGenerator<Sample> {
      for await (const { line, text } of readLines(file)) {
        if (text.trim() === "") continue;
        const parsed = parseLine(file, line, text, featureShape);
        yield { x: Float32Array.from(parsed.x), y: parsed.y };
      }
    },
  };
}
