/** Streaming helpers shared by the loaders: line reading (gzip aware) and located errors. */
import fs from "node:fs";
import readline from "node:readline";
import zlib from "node:zlib";
import type { Readable } from "node:stream";
import { MalformedInputError, NotFoundError, type ErrorCode } from "../../core/errors.js";

/** An error in a data file, naming the file and, where known, the line and field. */
export function dataError(file: string, message: string, where: { line?: number; field?: string; code?: ErrorCode; hint?: string } = {}): MalformedInputError {
  const location = [file, where.line !== undefined ? `line ${where.line}` : undefined, where.field !== undefined ? `field "${where.field}"` : undefined]
    .filter(Boolean)
    .join(", ");
  return new MalformedInputError(`${location}: ${message}`, {
    code: where.code ?? "DATA_MALFORMED",
    hint: where.hint,
    data: { file, line: where.line, field: where.field },
  });
}

export function assertReadableFile(file: string): void {
  if (!fs.existsSync(file)) throw new NotFoundError(`Data file ${file} does not exist.`, { code: "DATA_NOT_FOUND" });
  if (!fs.statSync(file).isFile()) throw new MalformedInputError(`${file} is not a file.`, { code: "DATA_MALFORMED" });
}

/** A byte stream of the file, gunzipped when the name ends in .gz. */
export function openStream(file: string): Readable {
  const raw = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  return file.endsWith(".gz") ? raw.pipe(zlib.createGunzip()) : raw;
}

/** Lines of a text file with their 1-based numbers, streamed. */
export async function* readLines(file: string): AsyncGenerator<{ line: number; text: string }> {
  const rl = readline.createInterface({ input: openStream(file), crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const text of rl) {
      line++;
      yield { line, text };
    }
  } finally {
    rl.close();
  }
}
