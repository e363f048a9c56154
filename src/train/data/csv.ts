/**
 * CSV loader: a header row, one label column (--label-column, default "label", else the last
 * column), numeric features, optional normalisation (min-max or z-score, statistics gathered in
 * the validation pass). Streams the file; validates every row before training starts. A file of
 * at most CSV_CACHE_VALUES numbers is kept in memory by that pass, so epochs read it from there
 * (the same samples in the same order) instead of parsing the text again; a larger one is streamed
 * again each epoch, never loaded whole.
 */
import { dataError, assertReadableFile, readLines } from "./lines.js";
import { labelScan, type DataSource, type Sample } from "./source.js";

export type Normalization = "none" | "minmax" | "zscore";

export interface CsvOptions {
  labelColumn?: string;
  normalize?: Normalization;
  /** Most numbers (cells, labels included) kept in memory by the validation pass; default CSV_CACHE_VALUES. */
  cacheValues?: number;
}

/**
 * Numbers a CSV may hold and still be kept in memory after validation: 2^24 (128 MiB of float64
 * while the pass runs, 64 MiB of float32 features after it). 1,024 CIFAR-sized rows are 3.1M.
 */
export const CSV_CACHE_VALUES = 1 << 24;

/** The cells of one CSV line, trimmed, and whether a quoted field was left open at its end. */
export interface CsvCells {
  cells: string[];
  unterminated: boolean;
}

/**
 * Split one CSV line (without its line ending) into trimmed cells: double-quoted fields may hold
 * commas and "" escapes. The one CSV splitter of dat: training data and inference inputs both use
 * it, so a file that trains also predicts.
 */
export function splitCsvCells(text: string): CsvCells {
  // A trailing \r is the rest of a CRLF ending when the caller split on \n only.
  const line = text.endsWith("\r") ? text.slice(0, -1) : text;
  if (!line.includes('"')) return { cells: line.split(",").map((c) => c.trim()), unterminated: false };
  const cells: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      cells.push(cell.trim());
      cell = "";
    } else cell += ch;
  }
  cells.push(cell.trim());
  return { cells, unterminated: quoted };
}

/** Split one CSV line; supports double-quoted fields with "" escapes. */
export function splitCsvLine(text: string): string[] {
  return splitCsvCells(text).cells;
}

function parseNumber(cell: string): number {
  if (cell === "") return NaN;
  return Number(cell);
}

/** 10^0 … 10^22: the powers of ten a double holds exactly. */
const EXACT_POWERS = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));

/**
 * The numbers of a line of plain decimal cells (`-12`, `0.5`, `3.25e-2`: no spaces, quotes or
 * other text), read straight from its characters into `out`; false (and `out` partly written)
 * when the line has another form or not `width` cells, for the general path (splitCsvLine and
 * Number) to read it and report what is wrong. A value is taken here only where one correctly
 * rounded operation gives it (at most 15 significant digits, a power of ten up to 10^22: Clinger's
 * fast path), so it is the double Number() returns; any other cell sends the line to Number().
 * Most of a CSV load's time was splitting lines into strings and parsing each: this is several
 * times faster on wide numeric rows (see the CSV case of the data tests).
 */
export function scanNumericRow(text: string, width: number, out: Float64Array): boolean {
  let end = text.length;
  if (end > 0 && text.charCodeAt(end - 1) === 13) end--; // the \r of a CRLF ending
  let i = 0;
  for (let cell = 0; cell < width; cell++) {
    if (cell > 0) {
      if (i >= end || text.charCodeAt(i) !== 44) return false; // ","
      i++;
    }
    let c = text.charCodeAt(i);
    let negative = false;
    if (c === 45 || c === 43) {
      negative = c === 45;
      c = text.charCodeAt(++i);
    }
    let mantissa = 0;
    let digits = 0; // significant digits in the mantissa
    let fraction = 0; // digits after the point
    let any = false;
    while (c >= 48 && c <= 57 && i < end) {
      if (digits > 0 || c !== 48) {
        mantissa = mantissa * 10 + (c - 48);
        digits++;
      }
      any = true;
      c = text.charCodeAt(++i);
    }
    if (c === 46 && i < end) {
      c = text.charCodeAt(++i);
      while (c >= 48 && c <= 57 && i < end) {
        if (digits > 0 || c !== 48) {
          mantissa = mantissa * 10 + (c - 48);
          digits++;
        }
        fraction++;
        any = true;
        c = text.charCodeAt(++i);
      }
    }
    if (!any || digits > 15) return false;
    let exponent = 0;
    if ((c === 101 || c === 69) && i < end) {
      c = text.charCodeAt(++i);
      let expNegative = false;
      if ((c === 45 || c === 43) && i < end) {
        expNegative = c === 45;
        c = text.charCodeAt(++i);
      }
      let expDigits = 0;
      while (c >= 48 && c <= 57 && i < end) {
        exponent = exponent * 10 + (c - 48);
        if (++expDigits > 3) return false;
        c = text.charCodeAt(++i);
      }
      if (expDigits === 0) return false;
      if (expNegative) exponent = -exponent;
    }
    const scale = exponent - fraction;
    let value: number;
    if (mantissa === 0) value = 0;
    else if (scale >= 0 && scale <= 22) value = mantissa * EXACT_POWERS[scale];
    else if (scale < 0 && scale >= -22) value = mantissa / EXACT_POWERS[-scale];
    else return false;
    out[cell] = negative ? -value : value;
  }
  return i === end;
}

/** Open and validate a CSV file; the returned source reads it from memory, or streams it again, each epoch. */
export async function openCsv(file: string, options: CsvOptions = {}): Promise<DataSource> {
  assertReadableFile(file);
  let header: string[] | undefined;
  let labelIndex = -1;
  let count = 0;
  const labels = labelScan(file);
  let sums: Float64Array = new Float64Array(0);
  let squares: Float64Array = new Float64Array(0);
  let mins: Float64Array = new Float64Array(0);
  let maxs: Float64Array = new Float64Array(0);
  let scanned = new Float64Array(0);
  const cacheLimit = options.cacheValues ?? CSV_CACHE_VALUES;
  /** Every row's numbers in file order while they fit under cacheLimit; undefined once they do not. */
  let cache: Float64Array | undefined = new Float64Array(0);
  let cached = 0;
  const keep = (values: Float64Array): void => {
    if (!cache) return;
    const need = cached + values.length;
    if (need > cacheLimit) {
      cache = undefined;
      return;
    }
    if (need > cache.length) {
      const grown = new Float64Array(Math.min(cacheLimit, Math.max(need, cache.length * 2)));
      grown.set(cache.subarray(0, cached));
      cache = grown;
    }
    cache.set(values, cached);
    cached = need;
  };
  /** A row's numbers: scanned straight from the text, else split and parsed, with the error naming what is wrong. */
  const rowValues = (text: string, columns: string[], line: number): Float64Array => {
    if (scanned.length !== columns.length) scanned = new Float64Array(columns.length);
    if (scanNumericRow(text, columns.length, scanned)) return scanned;
    const cells = splitCsvLine(text);
    if (cells.length !== columns.length) {
      throw dataError(file, `row has ${cells.length} cells, the header has ${columns.length}.`, { line, code: "DATA_ROW_WIDTH" });
    }
    for (let c = 0; c < cells.length; c++) {
      const value = parseNumber(cells[c]);
      if (!Number.isFinite(value)) throw dataError(file, `"${cells[c]}" is not a number.`, { line, field: columns[c], code: "DATA_NOT_NUMERIC" });
      scanned[c] = value;
    }
    return scanned;
  };
  for await (const { line, text } of readLines(file)) {
    if (text.trim() === "") continue;
    if (!header) {
      const cells = splitCsvLine(text);
      header = cells;
      const wanted = options.labelColumn ?? (header.includes("label") ? "label" : header[header.length - 1]);
      labelIndex = header.indexOf(wanted);
      if (labelIndex < 0) {
        throw dataError(file, `no label column "${wanted}" in the header (columns: ${header.join(", ")}).`, {
          line,
          field: wanted,
          code: "DATA_LABEL_COLUMN",
          hint: "Name the label column with --label-column <name>.",
        });
      }
      if (header.length < 2) throw dataError(file, "the header has no feature columns besides the label.", { line });
      const width = header.length - 1;
      sums = new Float64Array(width);
      squares = new Float64Array(width);
      mins = new Float64Array(width).fill(Infinity);
      maxs = new Float64Array(width).fill(-Infinity);
      continue;
    }
    const values = rowValues(text, header, line);
    keep(values);
    let f = 0;
    for (let c = 0; c < values.length; c++) {
      const value = values[c];
      if (c === labelIndex) {
        labels.see(value, count + 1, line);
        continue;
      }
      sums[f] += value;
      squares[f] += value * value;
      if (value < mins[f]) mins[f] = value;
      if (value > maxs[f]) maxs[f] = value;
      f++;
    }
    count++;
  }
  if (!header) throw dataError(file, "the file is empty.", { code: "DATA_EMPTY" });
  if (count === 0) throw dataError(file, "the file has a header but no rows.", { code: "DATA_EMPTY" });
  const width = header.length - 1;
  const shift = new Float32Array(width);
  const scale = new Float32Array(width).fill(1);
  const mode = options.normalize ?? "none";
  for (let f = 0; f < width; f++) {
    if (mode === "minmax") {
      shift[f] = mins[f];
      scale[f] = maxs[f] > mins[f] ? 1 / (maxs[f] - mins[f]) : 1;
    } else if (mode === "zscore") {
      const mean = sums[f] / count;
      const std = Math.sqrt(Math.max(0, squares[f] / count - mean * mean));
      shift[f] = mean;
      scale[f] = std > 0 ? 1 / std : 1;
    }
  }
  const columns = header;
  const memory = cache && inMemory(cache, count, width, labelIndex, shift, scale);
  cache = undefined;
  return {
    name: file,
    featureShape: [width],
    size: count,
    ...labels.facts(),
    async *read(): AsyncGenerator<Sample> {
      if (memory) {
        for (let i = 0; i < count; i++) yield { x: memory.x.subarray(i * width, (i + 1) * width), y: memory.y[i] };
        return;
      }
      let seenHeader = false;
      for await (const { line, text } of readLines(file)) {
        if (text.trim() === "") continue;
        if (!seenHeader) {
          seenHeader = true;
          continue;
        }
        let values: Float64Array;
        try {
          values = rowValues(text, columns, line);
        } catch {
          throw dataError(file, "the file changed since it was validated.", { line });
        }
        const x = new Float32Array(width);
        const y = rowToSample(values, labelIndex, shift, scale, x, 0);
        yield { x, y };
      }
    },
  };
}

/**
 * One row's numbers as a sample: its features, (value − shift) · scale in double precision rounded
 * to float32, written to `x` from `at`; returns its label as it was.
 */
function rowToSample(values: ArrayLike<number>, labelIndex: number, shift: Float32Array, scale: Float32Array, x: Float32Array, at: number): number {
  let y = 0;
  let f = 0;
  for (let c = 0; c < values.length; c++) {
    const value = values[c];
    if (c === labelIndex) y = value;
    else {
      x[at + f] = (value - shift[f]) * scale[f];
      f++;
    }
  }
  return y;
}

/** The cached rows as samples, each made as read() makes a streamed one (rowToSample). */
function inMemory(cache: Float64Array, count: number, width: number, labelIndex: number, shift: Float32Array, scale: Float32Array): { x: Float32Array; y: Float64Array } {
  const x = new Float32Array(count * width);
  const y = new Float64Array(count);
  const columns = width + 1;
  for (let r = 0; r < count; r++) y[r] = rowToSample(cache.subarray(r * columns, (r + 1) * columns), labelIndex, shift, scale, x, r * width);
  return { x, y };
}
