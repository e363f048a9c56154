/** Small helpers shared by the benchmarks: medians and `--name value` arguments. */

/** The median (the mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The value after `name` in `args`, or `fallback`. */
export function option(args: readonly string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
}

/** The number after `name` in `args`, or `fallback`. */
export function numberOption(args: readonly string[], name: string, fallback: number): number {
  return Number(option(args, name, String(fallback)));
}
