/**
 * Inputs for inference: every record format `dat train` reads — a JSON file (one input or an array
 * of them, bare or as `{"x": …}` records), JSONL (one input or `{"x": …, "y"?: …}` record per line),
 * a CSV with the job's columns (a label column is ignored), an IDX images file (gzipped or not), or
 * PNG images for image models. Every input is checked against
 * the model's input shape, and errors name the line, the input or the field.
 */
import { gunzipSync } from "node:zlib";
import { PNG } from "pngjs";
import { MalformedInputError, UsageError } from "../core/errors.js";
import { splitCsvCells } from "../train/data/csv.js";

export type InputFormat = "json" | "jsonl" | "csv" | "png" | "idx";
export const INPUT_FORMATS: readonly InputFormat[] = ["json", "jsonl", "csv", "png", "idx"];
/** Formats whose files are binary (sent base64 over HTTP). */
export const BINARY_INPUT_FORMATS: readonly InputFormat[] = ["png", "idx"];

/** Label column names a training CSV commonly carries; dropped when the CSV has one column too many. */
const LABEL_COLUMNS = ["label", "y", "target", "class"];

export interface InputSpec {
  /** One input's shape, without the batch dimension (e.g. [4] or [28, 28, 1]). */
  shape: number[];
  /** Feature columns, in the model's order, for CSV and JSON objects. */
  columns?: string[];
  /** Column to ignore in CSV (the training label), when `columns` is not known. */
  labelColumn?: string;
  /** Most inputs accepted in one batch. */
  maxBatch?: number;
}

export interface ParsedInputs {
  /** All inputs, flattened and concatenated: count × size values. */
  values: Float32Array;
  count: number;
  shape: number[];
  /** Where each input came from ("line 3", "input[2]", "cat.png"), for the output. */
  sources: string[];
}

export const DEFAULT_MAX_BATCH = 1024;

/** Guess the format from a file name, then from the first bytes. */
export function detectFormat(name: string, bytes: Uint8Array): InputFormat {
  const lower = name.toLowerCase().replace(/\.gz$/, "");
  const ext = lower.split(".").pop() ?? "";
  if (ext === "png") return "png";
  if (/idx3/.test(lower) || (bytes[0] === 0 && bytes[1] === 0 && bytes[2] === 0x08 && bytes[3] === 3)) return "idx";
  if (bytes[0] === 0x1f && bytes[1] === 0x8b && /idx/.test(lower)) return "idx";
  if (ext === "csv") return "csv";
  if (ext === "jsonl" || ext === "ndjson") return "jsonl";
  if (ext === "json") return "json";
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return "png";
  const head = Buffer.from(bytes.subarray(0, 200)).toString("utf8").trimStart();
  if (head.startsWith("[") || head.startsWith("{")) {
    const text = Buffer.from(bytes).toString("utf8").trim();
    try {
      JSON.parse(text);
      return "json";
    } catch {
      return "jsonl";
    }
  }
  return "csv";
}

/** Parse one input file of `format` against `spec`. */
export function parseInputs(bytes: Uint8Array, format: InputFormat, spec: InputSpec, name = "input"): ParsedInputs {
  checkSpec(spec);
  switch (format) {
    case "json":
      return parseJsonValue(parseJsonText(Buffer.from(bytes).toString("utf8"), name), spec);
    case "jsonl":
      return parseJsonl(Buffer.from(bytes).toString("utf8"), spec, name);
    case "csv":
      return parseCsv(Buffer.from(bytes).toString("utf8"), spec, name);
    case "png":
      return parsePng(bytes, spec, name);
    case "idx":
      return parseIdx(bytes, spec, name);
    default:
      throw new UsageError(`Unknown input format "${String(format)}".`, { code: "INPUT_FORMAT", hint: `Use one of: ${INPUT_FORMATS.join(", ")}.` });
  }
}

/** Join several parsed files into one batch. */
export function concatInputs(parts: ParsedInputs[], spec: InputSpec): ParsedInputs {
  const count = parts.reduce((n, p) => n + p.count, 0);
  checkBatch(count, spec);
  const values = new Float32Array(parts.reduce((n, p) => n + p.values.length, 0));
  let offset = 0;
  for (const p of parts) {
    values.set(p.values, offset);
    offset += p.values.length;
  }
  return { values, count, shape: spec.shape, sources: parts.flatMap((p) => p.sources) };
}

/**
 * Inputs already parsed from JSON (an HTTP body): one input, an array of inputs, an object with
 * the job's columns, or `{inputs: […]}`.
 */
export function parseJsonValue(value: unknown, spec: InputSpec): ParsedInputs {
  checkSpec(spec);
  let v = value;
  if (isPlainObject(v) && ("inputs" in v || "input" in v)) v = (v as Record<string, unknown>).inputs ?? (v as Record<string, unknown>).input;
  // A bare training record {"x": …, "y"?: …} is one input.
  if (isRecord(v, spec)) v = (v as Record<string, unknown>).x;
  const size = sizeOf(spec.shape);
  if (Array.isArray(v) && v.length === 0) throw empty("The JSON input");
  if (looksLikeOne(v, spec)) {
    return { values: toRow(v, spec, "input"), count: 1, shape: spec.shape, sources: ["input"] };
  }
  if (!Array.isArray(v)) {
    throw shapeError(`The JSON input must be an array of ${size} numbers${spec.shape.length > 1 ? ` (shape [${spec.shape}])` : ""}, an array of such inputs${spec.columns ? ", or an object with the columns " + spec.columns.join(", ") : ""}.`, spec);
  }
  checkBatch(v.length, spec);
  const values = new Float32Array(v.length * size);
  const sources: string[] = [];
  v.forEach((item, i) => {
    values.set(toRow(item, spec, `input[${i}]`), i * size);
    sources.push(`input[${i}]`);
  });
  return { values, count: v.length, shape: spec.shape, sources };
}

function parseJsonText(text: string, name: string): unknown {
  if (text.trim() === "") throw empty(name);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new MalformedInputError(`${name} is not valid JSON: ${(error as Error).message}`, {
      code: "INPUT_MALFORMED",
      hint: "Give one input (an array of numbers) or an array of inputs; use .jsonl for one input per line.",
    });
  }
}

function parseJsonl(text: string, spec: InputSpec, name: string): ParsedInputs {
  const rows: Float32Array[] = [];
  const sources: string[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${name} line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new MalformedInputError(`${where} is not valid JSON: ${(error as Error).message}`, { code: "INPUT_MALFORMED", data: { line: i + 1 } });
    }
    if (isPlainObject(value) && "input" in value) value = (value as Record<string, unknown>).input;
    else if (isRecord(value, spec)) value = (value as Record<string, unknown>).x;
    rows.push(toRow(value, spec, where));
    sources.push(`line ${i + 1}`);
    checkBatch(rows.length, spec);
  });
  return joinRows(rows, sources, spec, name);
}

function parseCsv(text: string, spec: InputSpec, name: string): ParsedInputs {
  const size = sizeOf(spec.shape);
  const lines = text.split(/\r?\n/);
  const headerIndex = lines.findIndex((l) => l.trim() !== "");
  if (headerIndex < 0) throw empty(name);
  const header = splitCsvLine(lines[headerIndex], `${name} line ${headerIndex + 1}`).map((h) => h.trim());
  let columns: string[];
  if (spec.columns) {
    const missing = spec.columns.filter((c) => !header.includes(c));
    if (missing.length > 0) {
      throw new MalformedInputError(`${name} lacks the column${missing.length > 1 ? "s" : ""} ${missing.map((m) => `"${m}"`).join(", ")}.`, {
        code: "INPUT_SHAPE",
        details: [`header: ${header.join(", ")}`, `expected: ${spec.columns.join(", ")}`],
        data: { missing },
      });
    }
    columns = spec.columns;
  } else {
    columns = header.filter((h) => h !== spec.labelColumn);
    // The training file itself, label column included: drop the label as `dat train` reads it.
    if (columns.length === size + 1) {
      const label = columns.find((c) => LABEL_COLUMNS.includes(c.toLowerCase()));
      if (label !== undefined) columns = columns.filter((c) => c !== label);
    }
  }
  if (columns.length !== size) {
    throw shapeError(`${name} has ${columns.length} feature column${columns.length === 1 ? "" : "s"} (${columns.join(", ")}); the model expects ${size}.`, spec);
  }
  const indexes = columns.map((c) => header.indexOf(c));
  const rows: Float32Array[] = [];
  const sources: string[] = [];
  for (let i = headerIndex + 1; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    const where = `${name} line ${i + 1}`;
    const fields = splitCsvLine(lines[i], where);
    if (fields.length !== header.length) {
      throw new MalformedInputError(`${where}: expected ${header.length} fields, got ${fields.length}.`, { code: "INPUT_MALFORMED", data: { line: i + 1 } });
    }
    const row = new Float32Array(size);
    indexes.forEach((col, k) => {
      const raw = fields[col].trim();
      const num = raw === "" ? NaN : Number(raw);
      if (!Number.isFinite(num)) {
        throw new MalformedInputError(`${where}, column "${columns[k]}": ${JSON.stringify(raw)} is not a finite number.`, {
          code: "INPUT_MALFORMED",
          data: { line: i + 1, column: columns[k] },
        });
      }
      row[k] = num;
    });
    rows.push(row);
    sources.push(`line ${i + 1}`);
    checkBatch(rows.length, spec);
  }
  return joinRows(rows, sources, spec, name);
}

/** One file's rows (each one input) as a batch; a file with none is an error. */
function joinRows(rows: Float32Array[], sources: string[], spec: InputSpec, name: string): ParsedInputs {
  if (rows.length === 0) throw empty(name);
  const size = sizeOf(spec.shape);
  const values = new Float32Array(rows.length * size);
  rows.forEach((r, i) => values.set(r, i * size));
  return { values, count: rows.length, shape: spec.shape, sources };
}

function splitCsvLine(line: string, where: string): string[] {
  const { cells, unterminated } = splitCsvCells(line);
  if (unterminated) throw new MalformedInputError(`${where}: unterminated quoted field.`, { code: "INPUT_MALFORMED" });
  return cells;
}

function parsePng(bytes: Uint8Array, spec: InputSpec, name: string): ParsedInputs {
  const [h, w, c = 1] = spec.shape;
  if (spec.shape.length < 2 || spec.shape.length > 3 || ![1, 3, 4].includes(c)) {
    throw shapeError(`${name} is an image, but the model takes inputs of shape [${spec.shape}], not an image [height, width, channels].`, spec);
  }
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(bytes));
  } catch (error) {
    throw new MalformedInputError(`${name} is not a readable PNG image: ${(error as Error).message}`, { code: "INPUT_MALFORMED" });
  }
  if (png.width !== w || png.height !== h) {
    throw shapeError(`${name} is ${png.width}×${png.height} pixels; the model expects ${w}×${h}.`, spec, { width: png.width, height: png.height });
  }
  const values = new Float32Array(h * w * c);
  for (let p = 0; p < h * w; p++) {
    const r = png.data[p * 4], g = png.data[p * 4 + 1], b = png.data[p * 4 + 2], a = png.data[p * 4 + 3];
    if (c === 1) values[p] = (0.299 * r + 0.587 * g + 0.114 * b) / 255;
    else {
      values[p * c] = r / 255;
      values[p * c + 1] = g / 255;
      values[p * c + 2] = b / 255;
      if (c === 4) values[p * c + 3] = a / 255;
    }
  }
  return { values, count: 1, shape: spec.shape, sources: [name] };
}

/** Is `v` one input (rather than a batch)? */
function looksLikeOne(v: unknown, spec: InputSpec): boolean {
  if (isPlainObject(v)) return true;
  if (!Array.isArray(v)) return false;
  if (spec.shape.length === 1) return v.every((x) => !Array.isArray(x) && !isPlainObject(x));
  // Rank > 1: a flat array of numbers, or nesting as deep as the shape.
  if (v.every((x) => typeof x === "number")) return true;
  return depth(v) === spec.shape.length;
}

function depth(v: unknown): number {
  let d = 0;
  let cur: unknown = v;
  while (Array.isArray(cur)) { d++; cur = cur[0]; }
  return d;
}

/** A training record `{"x": …, "y"?: …}` (JSONL / JSON as `dat train` reads them), unless "x" is one of the job's columns. */
function isRecord(v: unknown, spec: InputSpec): boolean {
  return isPlainObject(v) && "x" in v && !spec.columns?.includes("x");
}

/** An IDX images file (unsigned bytes, count × rows × columns), gzipped or not; pixels scaled to [0, 1] as `dat train` does. */
function parseIdx(raw: Uint8Array, spec: InputSpec, name: string): ParsedInputs {
  let bytes = Buffer.from(raw);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (error) {
      throw new MalformedInputError(`${name} is not a readable gzip file: ${(error as Error).message}`, { code: "INPUT_MALFORMED" });
    }
  }
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== 0x08) {
    throw new MalformedInputError(`${name} is not an IDX file of unsigned bytes (bad magic number).`, { code: "INPUT_MALFORMED" });
  }
  const ndims = bytes[3];
  if (ndims < 2 || bytes.length < 4 + 4 * ndims) throw new MalformedInputError(`${name}: truncated or not an images file (${ndims} dimensions).`, { code: "INPUT_MALFORMED" });
  const dims = Array.from({ length: ndims }, (_, i) => bytes.readUInt32BE(4 + 4 * i));
  const count = dims[0];
  const recordSize = sizeOf(dims.slice(1));
  const size = sizeOf(spec.shape);
  if (recordSize !== size) throw shapeError(`${name} holds records of ${dims.slice(1).join("×")} values; the model expects ${size} (shape [${spec.shape}]).`, spec);
  const body = bytes.subarray(4 + 4 * ndims);
  if (body.length !== count * recordSize) {
    throw new MalformedInputError(`${name}: header says ${count} records of ${recordSize} bytes, the file holds ${body.length} bytes.`, { code: "INPUT_MALFORMED" });
  }
  if (count === 0) throw empty(name);
  checkBatch(count, spec);
  const values = new Float32Array(count * size);
  for (let i = 0; i < values.length; i++) values[i] = body[i] / 255;
  return { values, count, shape: spec.shape, sources: Array.from({ length: count }, (_, i) => `${name}[${i}]`) };
}

function toRow(item: unknown, spec: InputSpec, where: string): Float32Array {
  const size = sizeOf(spec.shape);
  if (isRecord(item, spec)) return toRow((item as Record<string, unknown>).x, spec, where);
  if (isPlainObject(item)) {
    if (!spec.columns) throw shapeError(`${where}: an object input needs the job's columns, which this model does not declare; send an array of ${size} numbers.`, spec);
    const obj = item as Record<string, unknown>;
    const row = new Float32Array(size);
    spec.columns.forEach((c, k) => {
      if (!(c in obj)) throw shapeError(`${where}: missing field "${c}".`, spec, { field: c });
      row[k] = num(obj[c], `${where}.${c}`);
    });
    return row;
  }
  if (!Array.isArray(item)) throw shapeError(`${where}: expected an array of ${size} numbers, got ${describe(item)}.`, spec);
  const flat: unknown[] = [];
  if (spec.shape.length > 1 && !item.every((x) => typeof x === "number")) checkNested(item, spec.shape, where, flat);
  else flat.push(...item);
  if (flat.length !== size) {
    throw shapeError(`${where}: expected ${size} values${spec.shape.length > 1 ? ` (shape [${spec.shape}])` : ""}, got ${flat.length}.`, spec, { got: flat.length });
  }
  const row = new Float32Array(size);
  flat.forEach((x, k) => { row[k] = num(x, `${where}[${k}]`); });
  return row;
}

function checkNested(v: unknown, shape: number[], where: string, into: unknown[]): void {
  if (shape.length === 0) { into.push(v); return; }
  if (!Array.isArray(v) || v.length !== shape[0]) {
    throw new MalformedInputError(`${where}: expected an array of length ${shape[0]}, got ${Array.isArray(v) ? `length ${v.length}` : describe(v)}.`, { code: "INPUT_SHAPE" });
  }
  v.forEach((x, i) => checkNested(x, shape.slice(1), `${where}[${i}]`, into));
}

function num(x: unknown, where: string): number {
  if (typeof x !== "number" || !Number.isFinite(x)) {
    throw new MalformedInputError(`${where}: ${describe(x)} is not a finite number.`, { code: "INPUT_MALFORMED", data: { field: where } });
  }
  return x;
}

function describe(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return `an array of length ${x.length}`;
  if (typeof x === "string") return JSON.stringify(x.length > 20 ? x.slice(0, 20) + "…" : x);
  if (typeof x === "object") return "an object";
  return String(x);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function sizeOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function checkSpec(spec: InputSpec): void {
  if (spec.shape.length === 0 || spec.shape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new RangeError(`model input shape [${spec.shape}] is not a fixed shape`);
  }
}

function checkBatch(count: number, spec: InputSpec): void {
  const max = spec.maxBatch ?? DEFAULT_MAX_BATCH;
  if (count > max) {
    throw new MalformedInputError(`Too many inputs: more than ${max} in one batch.`, { code: "INPUT_TOO_MANY", hint: `Split the inputs into batches of at most ${max}.` });
  }
}

function empty(name: string): MalformedInputError {
  return new MalformedInputError(`${name} contains no inputs.`, { code: "INPUT_EMPTY" });
}

function shapeError(message: string, spec: InputSpec, data: Record<string, unknown> = {}): MalformedInputError {
  return new MalformedInputError(message, { code: "INPUT_SHAPE", data: { expectedShape: spec.shape, ...data } });
}

/** One prediction: the most probable class and every class's probability. */
export interface Prediction {
  source: string;
  classIndex: number;
  class: string;
  probabilities: number[];
}

/**
 * Turn the model's output (count × outputs values) into predictions. A single sigmoid output is
 * read as a binary classifier ([1 − p, p]).
 */
export function toPredictions(output: Float32Array, count: number, sources: string[], classNames?: string[]): Prediction[] {
  const width = output.length / count;
  const predictions: Prediction[] = [];
  for (let i = 0; i < count; i++) {
    let probs = Array.from(output.subarray(i * width, (i + 1) * width));
    if (width === 1) probs = [1 - probs[0], probs[0]];
    let best = 0;
    for (let k = 1; k < probs.length; k++) if (probs[k] > probs[best]) best = k;
    predictions.push({
      source: sources[i] ?? `input[${i}]`,
      classIndex: best,
      class: classNames?.[best] ?? String(best),
      probabilities: probs.map((p) => Math.round(p * 1e6) / 1e6),
    });
  }
  return predictions;
}
