/**
 * The HTML report renderer shared by the demo's `--report` and `dat job report --html`: one
 * self-contained document (inline CSS and SVG, no scripts, no external assets) built from a
 * learning curve, tables and free sections. Pure: data in, HTML string out. Every text that
 * comes from outside (names, CIDs, reasons) goes through `escapeHtml`; cells given as `HtmlCell`
 * are trusted markup that the caller built from escaped parts.
 */

/** Escape text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/**
 * Format base units of a token with `decimals` as a decimal string without trailing zeros,
 * truncated (never rounded up) to `maxDecimals` fraction digits when given.
 */
export function formatUnits(amount: string | bigint, decimals: number, maxDecimals?: number): string {
  const value = typeof amount === "bigint" ? amount : BigInt(amount);
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const base = 10n ** BigInt(decimals);
  const whole = abs / base;
  const digits = (abs % base).toString().padStart(decimals, "0");
  const fraction = (maxDecimals === undefined ? digits : digits.slice(0, maxDecimals)).replace(/0+$/, "");
  return `${negative ? "-" : ""}${whole}${fraction ? "." + fraction : ""}`;
}

export interface SvgSeries {
  name: string;
  values: readonly (number | undefined | null)[];
  color: string;
}

/**
 * An SVG line chart (one polyline and dots per series, y axis with 5 ticks, x axis labelled by
 * `xLabels`). Non-finite or missing values break the line.
 */
export function renderSvgLineChart(
  series: readonly SvgSeries[],
  options: { width?: number; height?: number; title: string; xLabels: readonly string[]; yMin?: number; yMax?: number; decimals?: number },
): string {
  const width = options.width ?? 560;
  const height = options.height ?? 260;
  // The right margin holds half of the last x label, which is centred on the plot's edge.
  const margin = { top: 32, right: 36, bottom: 40, left: 56 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const decimals = options.decimals ?? 2;
  const finite = series.flatMap((s) => s.values.filter((v): v is number => typeof v === "number" && Number.isFinite(v)));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeHtml(options.title)}">`,
    `<text x="${width / 2}" y="20" text-anchor="middle" class="title">${escapeHtml(options.title)}</text>`,
  ];
  const n = Math.max(options.xLabels.length, ...series.map((s) => s.values.length));
  if (finite.length === 0 || n === 0) {
    parts.push(`<text x="${width / 2}" y="${height / 2}" text-anchor="middle">no data</text></svg>`);
    return parts.join("");
  }
  let lo = options.yMin ?? Math.min(...finite);
  let hi = options.yMax ?? Math.max(...finite);
  if (hi === lo) {
    lo -= 0.5;
    hi += 0.5;
  }
  const x = (i: number) => margin.left + (n === 1 ? plotW / 2 : (i * plotW) / (n - 1));
  const y = (v: number) => margin.top + ((hi - Math.min(hi, Math.max(lo, v))) / (hi - lo)) * plotH;
  const fmt = (v: number) => v.toFixed(1);

  parts.push(`<g class="axis">`);
  for (let t = 0; t <= 4; t++) {
    const v = lo + ((hi - lo) * t) / 4;
    parts.push(
      `<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${fmt(y(v))}" y2="${fmt(y(v))}" class="grid"/>`,
      `<text x="${margin.left - 6}" y="${fmt(y(v) + 4)}" text-anchor="end">${v.toFixed(decimals)}</text>`,
    );
  }
  options.xLabels.forEach((label, i) => {
    parts.push(`<text x="${fmt(x(i))}" y="${margin.top + plotH + 18}" text-anchor="middle">${escapeHtml(label)}</text>`);
  });
  parts.push(`<line x1="${margin.left}" x2="${margin.left}" y1="${margin.top}" y2="${margin.top + plotH}"/>`);
  parts.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${margin.top + plotH}" y2="${margin.top + plotH}"/>`);
  parts.push(`</g>`);

  series.forEach((s, index) => {
    let run: string[] = [];
    const flush = () => {
      if (run.length > 1) parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${run.join(" ")}"/>`);
      run = [];
    };
    s.values.forEach((v, i) => {
      if (typeof v !== "number" || !Number.isFinite(v)) {
        flush();
        return;
      }
      run.push(`${fmt(x(i))},${fmt(y(v))}`);
    });
    flush();
    s.values.forEach((v, i) => {
      if (typeof v === "number" && Number.isFinite(v)) {
        parts.push(`<circle cx="${fmt(x(i))}" cy="${fmt(y(v))}" r="3.5" fill="${s.color}"><title>${escapeHtml(s.name)} ${escapeHtml(options.xLabels[i] ?? String(i))}: ${v.toFixed(4)}</title></circle>`);
      }
    });
    const lx = margin.left + 8 + index * 140;
    parts.push(
      `<rect x="${lx}" y="${height - 14}" width="10" height="10" fill="${s.color}"/>`,
      `<text x="${lx + 14}" y="${height - 5}">${escapeHtml(s.name)}</text>`,
    );
  });
  parts.push(`</svg>`);
  return parts.join("");
}

/** A fraction as a percentage with one decimal ("61.5%"); "–" when missing. */
export function formatPercent(v: number | undefined | null): string {
  return v === undefined || v === null || !Number.isFinite(v) ? "–" : `${(v * 100).toFixed(1)}%`;
}

/** A metric (a loss) with four decimals; "–" when missing. */
export function formatMetric(v: number | undefined | null): string {
  return v === undefined || v === null || !Number.isFinite(v) ? "–" : v.toFixed(4);
}

/** Markup the caller built (from escaped parts); plain strings and numbers are escaped. */
export interface HtmlCell {
  html: string;
}

/** `text` in a `<code>` element, escaped; "–" when missing. */
export function codeCell(text: string | null | undefined): HtmlCell {
  return { html: text ? `<code>${escapeHtml(text)}</code>` : "–" };
}

function cellHtml(cell: string | number | HtmlCell): string {
  return typeof cell === "object" ? cell.html : escapeHtml(String(cell));
}

/** A table with a header row; header cells and body cells are escaped unless given as HtmlCell. */
export function renderHtmlTable(headers: readonly (string | HtmlCell)[], rows: readonly (readonly (string | number | HtmlCell)[])[]): string {
  return [
    "<table>",
    `<thead><tr>${headers.map((h) => `<th>${cellHtml(h)}</th>`).join("")}</tr></thead>`,
    "<tbody>",
    ...rows.map((r) => `<tr>${r.map((c) => `<td>${cellHtml(c)}</td>`).join("")}</tr>`),
    "</tbody>",
    "</table>",
  ].join("\n");
}

/** One point of a learning curve: a label ("start", "round 1") and the validation metrics there. */
export interface CurvePoint {
  label: string;
  accuracy?: number | null;
  loss?: number | null;
}

/** The learning curve as two SVG charts (accuracy on a 0–1 axis, loss on its own range). */
export function renderLearningCurves(points: readonly CurvePoint[]): string {
  const labels = points.map((p) => p.label);
  return [
    `<div class="charts">`,
    renderSvgLineChart([{ name: "validation accuracy", values: points.map((p) => p.accuracy), color: "#0969da" }], { title: "Validation accuracy", xLabels: labels, yMin: 0, yMax: 1 }),
    renderSvgLineChart([{ name: "validation loss", values: points.map((p) => p.loss), color: "#bf3989" }], { title: "Validation loss", xLabels: labels, decimals: 3 }),
    `</div>`,
  ].join("\n");
}

/** One row of the rounds table that both reports show. */
export interface ReportRoundRow {
  /** A round number, or a label such as "start". */
  round: number | string;
  state: string;
  /** Submissions (or "–" where there are none to count). */
  submissions: number | string;
  accuracy?: number | null;
  loss?: number | null;
  modelCid?: string | null;
  /** The publish transaction; absent: "not published". */
  txHash?: string | null;
  /** A note in place of the transaction (an initial model has none to show). */
  txNote?: string;
}

/** The rounds table: round, state, submissions, accuracy, loss, global model CID, publish transaction. */
export function renderRoundsTable(rows: readonly ReportRoundRow[]): string {
  return renderHtmlTable(
    ["round", "state", "submissions", "accuracy", "loss", "global model CID", "publish transaction"],
    rows.map((r) => [
      r.round, r.state, r.submissions, formatPercent(r.accuracy), formatMetric(r.loss), codeCell(r.modelCid),
      r.txNote !== undefined ? r.txNote : r.txHash ? codeCell(r.txHash) : "not published",
    ]),
  );
}

/** A contributor's score and reward in one round: "0.900 → 90 DAT". */
export function scoreRewardCell(score: number, reward: string, token: { decimals: number; symbol: string }): HtmlCell {
  return { html: `${score.toFixed(3)} → ${escapeHtml(formatUnits(reward, token.decimals, 4))} ${escapeHtml(token.symbol)}` };
}

export interface HtmlDocument {
  /** The `<title>`. */
  title: string;
  /** The `<h1>`. */
  heading: string;
  /** The paragraph under the heading (text; escaped). */
  intro: string;
  /** Sections in order: a heading and trusted body markup. */
  sections: readonly { heading: string; html: string }[];
  /** Trusted markup after the last section. */
  footer?: string;
}

/** The whole report as one HTML document with the shared stylesheet. */
export function renderHtmlDocument(doc: HtmlDocument): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(doc.title)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #1b1f24; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; font-size: 0.9rem; margin: 0.5rem 0; }
th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
code { font-size: 0.8rem; word-break: break-all; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
svg { background: #fff; border: 1px solid #d0d7de; font-size: 11px; }
svg .title { font-size: 13px; font-weight: 600; }
svg .grid { stroke: #eaeef2; }
svg line { stroke: #57606a; }
li.ok { color: #1a7f37; } li.denied { color: #cf222e; }
.rejected { color: #cf222e; }
</style>
</head>
<body>
<h1>${escapeHtml(doc.heading)}</h1>
<p>${escapeHtml(doc.intro)}</p>
${doc.sections.map((s) => `<h2>${escapeHtml(s.heading)}</h2>\n${s.html}`).join("\n")}
${doc.footer ?? ""}
</body>
</html>
`;
}
