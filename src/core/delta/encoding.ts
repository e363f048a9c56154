import { MalformedInputError, UsageError } from "../errors.js";
import { EncodingId, type EncodingIdValue, type ParsedEncoding } from "./format.js";

/**
 * Parses an encoding spec ("float32", "float16", "int8", "int8:<block>", "topk:<fraction>").
 * Throws UsageError with code DELTA_BAD_ENCODING on anything else.
 */
export function parseEncoding(spec: string): ParsedEncoding {
  const bad = (why: string) =>
    new UsageError(`Unknown delta encoding "${spec}": ${why}.`, {
      code: "DELTA_BAD_ENCODING",
      hint: 'Use one of: float32, float16, int8, int8:<block size>, topk:<fraction in (0,1]>, e.g. "topk:0.1".',
    });
  if (spec === "float32" || spec === "float16" || spec === "int8") return { kind: spec };
  const m = /^(int8|topk):(.+)$/.exec(spec);
  if (!m) throw bad("not a known name");
  if (m[1] === "int8") {
    if (!/^[0-9]+$/.test(m[2])) throw bad("the block size must be a positive integer");
    const blockSize = Number(m[2]);
    if (!Number.isSafeInteger(blockSize) || blockSize < 1 || blockSize > 0xffffffff) throw bad("the block size must be a positive integer");
    return { kind: "int8Block", blockSize };
  }
  const fraction = Number(m[2]);
  if (!/^[0-9.eE+-]+$/.test(m[2]) || !Number.isFinite(fraction) || fraction <= 0 || fraction > 1) {
    throw bad("the fraction must be in (0, 1]");
  }
  return { kind: "topk", fraction };
}

/** Canonical spec string of a parsed encoding. */
export function formatEncoding(e: ParsedEncoding): string {
  switch (e.kind) {
    case "int8Block":
      return `int8:${e.blockSize}`;
    case "topk":
      return `topk:${e.fraction}`;
    default:
      return e.kind;
  }
}

export function encodingIdOf(e: ParsedEncoding): EncodingIdValue {
  return EncodingId[e.kind];
}

/** Name of an encoding id read from a header; unknown ids are a MalformedInputError. */
export function encodingKindOf(id: number): ParsedEncoding["kind"] {
  switch (id) {
    case EncodingId.float32:
      return "float32";
    case EncodingId.float16:
      return "float16";
    case EncodingId.int8:
      return "int8";
    case EncodingId.int8Block:
      return "int8Block";
    case EncodingId.topk:
      return "topk";
    default:
      throw new MalformedInputError(`Delta uses unknown encoding id ${id}.`, {
        code: "DELTA_BAD_ENCODING",
        hint: "The delta was written by a newer or different tool; re-encode it with this version of dat.",
      });
  }
}
