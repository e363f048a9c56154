/**
 * A small line chart for the terminal: pure function from numbers to text, so the demo (and any
 * command that shows a learning curve) can print it and tests can compare it character by character.
 *
 * Each series gets a marker; consecutive points of a series are joined by interpolated dots so a
 * curve with three rounds still reads as a line. Where two series land on the same cell the later
 * one wins, and the legend says which marker is which.
 */

export interface ChartSeries {
  name: string;
  /** y values in x order; non-finite values are skipped (a round that produced no metric). */
  values: readonly number[];
  /** One character; defaults cycle through ● ▲ ■ ◆. */
  marker?: string;
}

export interface LineChartOptions {
  /** Plot rows (not counting the axis and legend). Default 9 (odd, so the middle label is the exact midpoint), at least 2. */
  height?: number;
  /** Plot columns. Default 48, at least the number of x positions. */
  width?: number;
  /** Fixed y range; by default the data's range (a flat series gets ±0.5 around its value). */
  yMin?: number;
  yMax?: number;
  /** Decimals of the y labels. Default 2. */
  decimals?: number;
  /** Label of x position i (default: i, or xOffset + i). */
  xLabel?: (index: number) => string;
  /** Title printed above the plot. */
  title?: string;
}

const DEFAULT_MARKERS = ["●", "▲", "■", "◆"];
const LINK = "·";

/**
 * Render one or more series as a text chart: title, rows with y labels on a `┤` axis, an x axis
 * with labels under each data column, and a legend. Returns the lines joined with "\n".
 * An empty input (no finite value anywhere) renders as a single "(no data)" line under the title.
 */
export function renderLineChart(series: readonly ChartSeries[], options: LineChartOptions = {}): string {
  const height = Math.max(2, Math.floor(options.height ?? 9));
  const decimals = Math.max(0, Math.floor(options.decimals ?? 2));
  const points = Math.max(0, ...series.map((s) => s.values.length));
  const finite = series.flatMap((s) => s.values.filter((v) => Number.isFinite(v)));
  const lines: string[] = [];
  if (options.title) lines.push(options.title);
  if (finite.length === 0 || points === 0) {
    lines.push("(no data)");
    return lines.join("\n");
  }
  const width = Math.max(points, Math.floor(options.width ?? 48));

  let lo = options.yMin ?? Math.min(...finite);
  let hi = options.yMax ?? Math.max(...finite);
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) {
    lo -= 0.5;
    hi += 0.5;
  }

  // Column of x position i: spread evenly so the first point sits on the axis and the last on the edge.
  const columnOf = (i: number) => (points === 1 ? 0 : Math.round((i * (width - 1)) / (points - 1)));
  // Row 0 is the top of the plot.
  const rowOf = (v: number) => {
    const clamped = Math.min(hi, Math.max(lo, v));
    return Math.round(((hi - clamped) / (hi - lo)) * (height - 1));
  };

  const grid: string[][] = Array.from({ length: height }, () => Array.from({ length: width }, () => " "));
  series.forEach((s, index) => {
    const marker = [...(s.marker ?? DEFAULT_MARKERS[index % DEFAULT_MARKERS.length])][0] ?? "*";
    let previous: { col: number; row: number } | undefined;
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v)) {
        previous = undefined;
        return;
      }
      const col = columnOf(i);
      const row = rowOf(v);
      if (previous) {
        const steps = Math.max(Math.abs(col - previous.col), Math.abs(row - previous.row));
        for (let k = 1; k < steps; k++) {
          const c = Math.round(previous.col + ((col - previous.col) * k) / steps);
          const r = Math.round(previous.row + ((row - previous.row) * k) / steps);
          if (grid[r][c] === " ") grid[r][c] = LINK;
        }
      }
      grid[row][col] = marker;
      previous = { col, row };
    });
  });

  const labelAt = (row: number) => (hi - ((hi - lo) * row) / (height - 1)).toFixed(decimals);
  const labelWidth = Math.max(labelAt(0).length, labelAt(height - 1).length);
  const labelledRows = new Set([0, Math.round((height - 1) / 2), height - 1]);
  for (let r = 0; r < height; r++) {
    const label = labelledRows.has(r) ? labelAt(r) : "";
    lines.push(`${label.padStart(labelWidth)} ┤${grid[r].join("")}`.trimEnd());
  }
  lines.push(`${" ".repeat(labelWidth)} └${"─".repeat(width)}`);

  // x labels, written left to right, skipping one that would overlap the previous.
  const xLabel = options.xLabel ?? ((i: number) => String(i));
  const axis = Array.from({ length: width + 8 }, () => " ");
  let nextFree = 0;
  for (let i = 0; i < points; i++) {
    const text = xLabel(i);
    const start = Math.min(columnOf(i), width + 8 - text.length);
    if (start < nextFree) continue;
    for (let k = 0; k < text.length; k++) axis[start + k] = text[k];
    nextFree = start + text.length + 1;
  }
  lines.push(`${" ".repeat(labelWidth + 2)}${axis.join("")}`.trimEnd());

  const legend = series.map((s, index) => `${[...(s.marker ?? DEFAULT_MARKERS[index % DEFAULT_MARKERS.length])][0] ?? "*"} ${s.name}`);
  lines.push(`${" ".repeat(labelWidth + 2)}${legend.join("   ")}`);
  return lines.join("\n");
}
