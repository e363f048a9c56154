/**
 * A one-line curve for the terminal (`dat round status`, `dat job report`): one block per value,
 * its height the value's place between the series' minimum and maximum. Pure, so tests compare it
 * character by character.
 */

const BLOCKS = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];
/** Eight heights in plain ASCII, for terminals whose locale is not UTF-8. */
const ASCII = ["_", ".", "-", "~", "=", "+", "*", "#"];

export interface SparklineOptions {
  /** Plain ASCII instead of block characters. */
  ascii?: boolean;
  /** Fixed range (accuracy: 0–1); by default the values' own range. */
  min?: number;
  max?: number;
}

/**
 * One character per value; a missing or non-finite value (a failed round) is a space. A flat
 * series sits in the middle. An empty series, or one with no finite value, is "".
 */
export function renderSparkline(values: readonly (number | null | undefined)[], options: SparklineOptions = {}): string {
  const ramp = options.ascii ? ASCII : BLOCKS;
  const finite = values.filter((v): v is number => typeof v === "number" && Number.isFinite(v));
  if (finite.length === 0) return "";
  const lo = options.min ?? Math.min(...finite);
  const hi = options.max ?? Math.max(...finite);
  return values
    .map((v) => {
      if (typeof v !== "number" || !Number.isFinite(v)) return " ";
      if (hi <= lo) return ramp[Math.floor(ramp.length / 2) - 1];
      const t = (Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo);
      return ramp[Math.min(ramp.length - 1, Math.round(t * (ramp.length - 1)))];
    })
    .join("");
}

/**
 * Whether the terminal can show the block characters: false when the locale (LC_ALL, LC_CTYPE,
 * LANG, in that order of precedence) is set and names another encoding than UTF-8 ("C", "POSIX",
 * "en_US.ISO-8859-1"). An unset locale keeps Unicode, as the rest of dat's output does.
 */
export function terminalSupportsUnicode(env: NodeJS.ProcessEnv): boolean {
  const locale = env.LC_ALL || env.LC_CTYPE || env.LANG;
  if (!locale) return true;
  return /utf-?8/i.test(locale);
}
