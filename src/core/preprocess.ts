/**
 * One preprocessing per job: the operator fixes it (and its statistics) at `dat job create
 * --normalize none|scale:<k>|minmax|zscore`, and contributor training, the operator's validation,
 * `dat infer` and `dat demo` all run the same `applyPreprocess`. Pure: callers read files and
 * pass rows in.
 *
 *   none      x
 *   scale:k   x / k                      (scale:255 maps bytes to [0, 1]; k finite > 0)
 *   minmax    (x − minⱼ) / (maxⱼ − minⱼ)  per feature j; a constant feature (max = min) maps to 0
 *   zscore    (x − meanⱼ) / stdⱼ          per feature j; std = 0 counts as 1 (the feature maps to 0)
 *
 * Statistics are population statistics (÷ n) from the operator's data, computed in one streaming
 * pass (Welford's update for mean and variance, so millions of rows neither overflow nor cancel).
 */
import { UserError } from "./errors.js";

/** The transforms a job can name. */
export const PREPROCESS_KINDS = ["none", "scale", "minmax", "zscore"] as const;
export type PreprocessKind = (typeof PREPROCESS_KINDS)[number];

/** Per-feature statistics (population, ÷ n); every array has one entry per feature. */
export interface PreprocessStats {
  /** Rows the statistics were computed from. */
  count: number;
  mean: number[];
  std: number[];
  min: number[];
  max: number[];
}

/**
 * A job's preprocessing, as stored with the job and sent to contributors (plain JSON).
 * `factor` only for "scale"; `stats` required for "minmax" and "zscore".
 */
export interface PreprocessSpec {
  kind: PreprocessKind;
  factor?: number;
  stats?: PreprocessStats;
}

/**
 * Parses the `--normalize` value: `none`, `scale:<k>`, `minmax` or `zscore` (statistics are added
 * later by `computeStats` or read from `--normalize-stats`).
 * @throws UserError PREPROCESS_BAD_SPEC naming `field`.
 */
export function parsePreprocess(text: string, field = "--normalize"): { kind: PreprocessKind; factor?: number } {
  const value = typeof text === "string" ? text.trim() : "";
  if (value === "none" || value === "minmax" || value === "zscore") return { kind: value };
  const scale = /^scale:(.+)$/.exec(value);
  if (scale) {
    const factor = /^[+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(scale[1]) ? Number(scale[1]) : Number.NaN;
    if (!Number.isFinite(factor) || factor <= 0) {
      throw badSpec(`${field} scale factor "${scale[1]}" is not a finite number > 0.`, field, "Example: --normalize scale:255");
    }
    return { kind: "scale", factor };
  }
  throw badSpec(`${field} "${String(text)}" is not one of none, scale:<k>, minmax, zscore.`, field, "Example: --normalize zscore");
}

/** Streaming statistics over rows of `features` values (see `computeStats`). */
export interface StatsAccumulator {
  /** Adds one row; refuses (adding nothing) a row of the wrong length or with NaN / ±Infinity. */
  add(row: ArrayLike<number>): void;
  readonly count: number;
  /** The statistics so far. @throws UserError PREPROCESS_NO_ROWS when no row was added. */
  finish(): PreprocessStats;
}

/**
 * Starts streaming statistics for rows of `features` values (Welford mean/variance, min, max).
 * @throws UserError PREPROCESS_BAD_STATS when features is not a positive integer.
 */
export function createStatsAccumulator(features: number): StatsAccumulator {
  if (!Number.isSafeInteger(features) || features < 1) {
    throw new UserError(`Feature count must be a positive integer, got ${String(features)}.`, { code: "PREPROCESS_BAD_STATS" });
  }
  const mean = new Float64Array(features);
  const m2 = new Float64Array(features);
  const min = new Float64Array(features).fill(Infinity);
  const max = new Float64Array(features).fill(-Infinity);
  let count = 0;
  return {
    add(row: ArrayLike<number>): void {
      if (row.length !== features) {
        throw new UserError(`Row ${count + 1} has ${row.length} features, expected ${features}.`, {
          code: "PREPROCESS_BAD_ROW",
          hint: "Every row must have the same columns as the model's inputs.",
          data: { row: count + 1, expected: features, actual: row.length },
        });
      }
      for (let j = 0; j < features; j++) {
        if (!Number.isFinite(row[j])) throw notFinite(`row ${count + 1}, feature ${j}`, row[j], { row: count + 1, feature: j });
      }
      count += 1;
      for (let j = 0; j < features; j++) {
        const x = row[j];
        const d = x - mean[j];
        mean[j] += d / count;
        m2[j] += d * (x - mean[j]);
        if (x < min[j]) min[j] = x;
        if (x > max[j]) max[j] = x;
      }
    },
    get count() {
      return count;
    },
    finish(): PreprocessStats {
      if (count === 0) throw new UserError("No rows to compute preprocessing statistics from.", { code: "PREPROCESS_NO_ROWS" });
      return {
        count,
        mean: Array.from(mean),
        std: Array.from(m2, (s) => Math.sqrt(Math.max(0, s) / count)),
        min: Array.from(min),
        max: Array.from(max),
      };
    },
  };
}

/**
 * The job's spec for `kind` with statistics from `rows` (one pass; rows may be a generator).
 * "none" and "scale" need no rows (pass an empty iterable); `factor` is required for "scale".
 * @throws UserError PREPROCESS_BAD_ROW / PREPROCESS_NOT_FINITE / PREPROCESS_NO_ROWS / PREPROCESS_BAD_SPEC.
 */
export function computeStats(
  kind: PreprocessKind,
  rows: Iterable<ArrayLike<number>>,
  options: { factor?: number } = {},
): PreprocessSpec {
  if (kind === "none") return { kind };
  if (kind === "scale") {
    const factor = options.factor;
    if (typeof factor !== "number" || !Number.isFinite(factor) || factor <= 0) {
      throw badSpec(`scale needs a factor > 0, got ${String(factor)}.`, "factor", "Example: --normalize scale:255");
    }
    return { kind, factor };
  }
  if (kind !== "minmax" && kind !== "zscore") throw badSpec(`Unknown preprocessing "${String(kind)}".`, "kind", "Use none, scale:<k>, minmax or zscore.");
  let acc: StatsAccumulator | undefined;
  for (const row of rows) {
    acc ??= createStatsAccumulator(row.length);
    acc.add(row);
  }
  if (acc === undefined) throw new UserError("No rows to compute preprocessing statistics from.", { code: "PREPROCESS_NO_ROWS" });
  return { kind, stats: acc.finish() };
}

/**
 * Checks a spec read from JSON (a job record, `--normalize-stats <file>`) and, when `features` is
 * given, that its statistics have one entry per model input. Returns the spec typed.
 * @throws UserError PREPROCESS_BAD_SPEC / PREPROCESS_BAD_STATS (data.field) /
 *         PREPROCESS_STATS_MISMATCH (data.expected, data.actual) naming `source`.
 */
export function validatePreprocessSpec(value: unknown, features?: number, source = "preprocessing spec"): PreprocessSpec {
  const spec = value as PreprocessSpec;
  if (typeof spec !== "object" || spec === null || !(PREPROCESS_KINDS as readonly string[]).includes(spec.kind)) {
    throw badSpec(`${source}: kind must be one of ${PREPROCESS_KINDS.join(", ")}.`, "kind", "Example: {\"kind\":\"zscore\",\"stats\":{…}}");
  }
  if (spec.kind === "scale" && !(typeof spec.factor === "number" && Number.isFinite(spec.factor) && spec.factor > 0)) {
    throw badSpec(`${source}: scale needs a finite factor > 0.`, "factor", "Example: {\"kind\":\"scale\",\"factor\":255}");
  }
  if (spec.kind !== "minmax" && spec.kind !== "zscore") return spec;
  const stats = spec.stats;
  const badStats = (field: string, reason: string): UserError =>
    new UserError(`${source}: stats.${field} ${reason}.`, {
      code: "PREPROCESS_BAD_STATS",
      hint: "Recompute the statistics from the operator's validation data (dat job create --validation …).",
      data: { field },
    });
  if (typeof stats !== "object" || stats === null) throw badStats("", "are missing");
  if (!Number.isSafeInteger(stats.count) || stats.count < 1) throw badStats("count", "must be a positive integer");
  const arrays = spec.kind === "zscore" ? (["mean", "std"] as const) : (["min", "max"] as const);
  let length: number | undefined;
  for (const key of arrays) {
    const a = stats[key];
    if (!Array.isArray(a) || a.length === 0) throw badStats(key, "must be a non-empty array of numbers");
    a.forEach((x, j) => {
      if (typeof x !== "number" || !Number.isFinite(x)) throw badStats(`${key}[${j}]`, "is not a finite number");
      if (key === "std" && x < 0) throw badStats(`${key}[${j}]`, "is negative");
    });
    if (length !== undefined && a.length !== length) throw badStats(key, `has ${a.length} entries, ${arrays[0]} has ${length}`);
    length = a.length;
  }
  if (spec.kind === "minmax") stats.min.forEach((lo, j) => {
    if (lo > stats.max[j]) throw badStats(`min[${j}]`, "is above max");
  });
  if (features !== undefined && length !== features) {
    throw new UserError(`${source} has statistics for ${length} features, the model has ${features} inputs.`, {
      code: "PREPROCESS_STATS_MISMATCH",
      hint: "Use statistics computed from data with the model's columns.",
      data: { expected: features, actual: length },
    });
  }
  return spec;
}

/**
 * Applies the job's preprocessing to `features` IN PLACE and returns it: one row, or several rows
 * flattened back to back (the length must then be a multiple of the feature count).
 * @throws UserError PREPROCESS_NOT_FINITE (data.index) for NaN / ±Infinity input (nothing is changed),
 *         PREPROCESS_STATS_MISMATCH when the length does not fit the statistics.
 */
export function applyPreprocess(spec: PreprocessSpec, features: Float32Array): Float32Array {
  for (let i = 0; i < features.length; i++) if (!Number.isFinite(features[i])) throw notFinite(`value ${i}`, features[i], { index: i });
  switch (spec.kind) {
    case "none":
      return features;
    case "scale": {
      const inv = 1 / (spec.factor as number);
      for (let i = 0; i < features.length; i++) features[i] *= inv;
      return features;
    }
    case "minmax":
    case "zscore": {
      const stats = spec.stats;
      if (stats === undefined) throw badSpec(`${spec.kind} preprocessing has no statistics.`, "stats", "Compute them with the job (dat job create --validation …).");
      const offset = spec.kind === "zscore" ? stats.mean : stats.min;
      const n = offset.length;
      if (features.length % n !== 0) {
        throw new UserError(`Input has ${features.length} values, not a whole number of rows of ${n} features.`, {
          code: "PREPROCESS_STATS_MISMATCH",
          data: { expected: n, actual: features.length },
        });
      }
      // Zero spread: the feature carries no information in the operator's data; map it to 0, not ±∞.
      const scale = offset.map((_, j) => {
        const spread = spec.kind === "zscore" ? stats.std[j] : stats.max[j] - stats.min[j];
        return spread > 0 ? 1 / spread : 1;
      });
      for (let i = 0; i < features.length; i++) {
        const j = i % n;
        features[i] = (features[i] - offset[j]) * scale[j];
      }
      return features;
    }
  }
}

/** The spec as `--normalize` writes it: "none", "scale:255", "zscore". */
export function describePreprocess(spec: { kind: PreprocessKind; factor?: number }): string {
  return spec.kind === "scale" ? `scale:${String(spec.factor)}` : spec.kind;
}

function badSpec(message: string, field: string, hint: string): UserError {
  return new UserError(message, { code: "PREPROCESS_BAD_SPEC", hint, data: { field } });
}

function notFinite(where: string, value: number, data: Record<string, number>): UserError {
  return new UserError(`Input ${where} is ${String(value)}; preprocessing needs finite numbers.`, {
    code: "PREPROCESS_NOT_FINITE",
    hint: "Remove or fix rows with NaN or infinite values.",
    data,
  });
}
