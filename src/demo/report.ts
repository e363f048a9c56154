/**
 * The demo's HTML report: one self-contained file (inline CSS and SVG, no scripts, no external
 * assets) with the learning curve, a per-round table, rewards per contributor and the two
 * inference outcomes. Pure: DemoResult in, HTML string out.
 */
import type { DemoResult } from "./types.js";

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
  values: readonly (number | undefined)[];
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
export function formatPercent(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? "–" : `${(v * 100).toFixed(1)}%`;
}

/** A metric (a loss) with four decimals; "–" when missing. */
export function formatMetric(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(4);
}

/** What each contributor earned over all rounds, in base units, by contributor name. */
export function earnedByContributor(rounds: DemoResult["rounds"]): Map<string, bigint> {
  const earned = new Map<string, bigint>();
  for (const r of rounds) for (const s of r.scores) earned.set(s.contributor, (earned.get(s.contributor) ?? 0n) + BigInt(s.reward));
  return earned;
}

/** Render the whole report as one HTML document. */
export function renderHtmlReport(result: DemoResult, options: { generatedAt?: Date } = {}): string {
  const { token } = result;
  const amount = (a: string) => `${escapeHtml(formatUnits(a, token.decimals, 4))} ${escapeHtml(token.symbol)}`;
  const labels = ["start", ...result.rounds.map((r) => `round ${r.round}`)];
  const accuracy = [result.baseline?.accuracy, ...result.rounds.map((r) => r.accuracy)];
  const loss = [result.baseline?.loss, ...result.rounds.map((r) => r.loss)];
  const s = result.settings;

  const roundRows = result.rounds
    .map((r) => {
      const tx = r.txHash ? `<code>${escapeHtml(r.txHash)}</code>` : "not published";
      return `<tr><td>${r.round}</td><td>${escapeHtml(r.state)}</td><td>${r.submissions.length}</td><td>${formatPercent(r.accuracy)}</td><td>${formatMetric(r.loss)}</td><td>${r.modelCid ? `<code>${escapeHtml(r.modelCid)}</code>` : "–"}</td><td>${tx}</td></tr>`;
    })
    .join("\n");

  const totals = earnedByContributor(result.rounds);
  const claimed = new Map(result.claims.map((c) => [c.contributor, c]));
  const contributorRows = result.contributors
    .map((c) => {
      const perRound = result.rounds
        .map((r) => {
          const sc = r.scores.find((x) => x.contributor === c.name);
          return `<td>${sc ? `${sc.score.toFixed(3)} → ${amount(sc.reward)}` : "–"}</td>`;
        })
        .join("");
      const claim = claimed.get(c.name);
      const role = c.attack ? `attacker (${escapeHtml(c.attack.kind)} ×${c.attack.factor})` : "honest";
      return `<tr><td>${escapeHtml(c.name)}</td><td><code>${escapeHtml(c.address)}</code></td><td>${role}</td><td>${c.samples}</td>${perRound}<td>${amount((totals.get(c.name) ?? 0n).toString())}</td><td>${claim ? amount(claim.claimed) : "–"}</td><td>${claim ? amount(claim.balance) : "–"}</td></tr>`;
    })
    .join("\n");

  const inference = result.inference
    .map((o) => {
      if (o.answered) {
        const preds = (o.predictions ?? [])
          .map((p) => {
            const mark = p.truth === undefined ? "" : String(p.label) === String(p.truth) ? " ✓" : ` ✗ (true ${escapeHtml(String(p.truth))})`;
            return `${escapeHtml(String(p.label))}${mark} (${(p.confidence * 100).toFixed(0)}%)`;
          })
          .join(", ");
        return `<li class="ok"><strong>${escapeHtml(o.who)}</strong> <code>${escapeHtml(o.address)}</code>: answered — ${preds}</li>`;
      }
      const d = o.denial;
      const numbers = d?.held !== undefined && d.required !== undefined ? ` (holds ${amount(d.held)}, needs ${amount(d.required)})` : "";
      return `<li class="denied"><strong>${escapeHtml(o.who)}</strong> <code>${escapeHtml(o.address)}</code>: denied${numbers} — ${escapeHtml(d?.message ?? "")}</li>`;
    })
    .join("\n");

  const settings: [string, string][] = [
    ["contributors", String(s.contributors)],
    ["rounds", String(s.rounds)],
    ["strategy", s.strategy + (Object.keys(s.strategyParams).length ? ` (${Object.entries(s.strategyParams).map(([k, v]) => `${k}=${v}`).join(", ")})` : "")],
    ["encoding", s.encoding],
    ["partition", s.partition],
    ["epochs", String(s.epochs)],
    ["attackers", s.attackers ? `${s.attackers} (${s.attack} ×${s.attackFactor})` : "0"],
    ["differential privacy", s.dpClip !== undefined ? `clip ${s.dpClip}, noise ${s.dpNoise ?? 0}` : "off"],
    ["data", s.data],
    ["model", s.model],
    ["validation samples", String(result.validationSamples)],
    ["seed", String(s.seed)],
    ["reward per round", amount(s.rewardPerRound)],
    ["chain", `${escapeHtml(result.chain.url)} (chain id ${result.chain.chainId})`],
    ["duration", `${(result.durationMs / 1000).toFixed(1)} s`],
  ];

  const roundHeaders = result.rounds.map((r) => `<th>round ${r.round}<br>score → reward</th>`).join("");
  const generated = (options.generatedAt ?? new Date()).toISOString();

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>dat demo report — job ${escapeHtml(result.jobId)}</title>
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
</style>
</head>
<body>
<h1>dat demo — job ${escapeHtml(result.jobId)}</h1>
<p>Generated ${escapeHtml(generated)}. ${result.contributors.length} contributors trained on private shards for ${result.rounds.length} rounds; each round was aggregated, evaluated and settled on-chain in one transaction.</p>
<h2>Learning curve</h2>
<div class="charts">
${renderSvgLineChart([{ name: "validation accuracy", values: accuracy, color: "#0969da" }], { title: "Validation accuracy", xLabels: labels, yMin: 0, yMax: 1 })}
${renderSvgLineChart([{ name: "validation loss", values: loss, color: "#bf3989" }], { title: "Validation loss", xLabels: labels, decimals: 3 })}
</div>
<h2>Rounds</h2>
<table>
<thead><tr><th>round</th><th>state</th><th>submissions</th><th>accuracy</th><th>loss</th><th>global model CID</th><th>publish transaction</th></tr></thead>
<tbody>
<tr><td>start</td><td>initial model</td><td>–</td><td>${formatPercent(result.baseline?.accuracy)}</td><td>${formatMetric(result.baseline?.loss)}</td><td>–</td><td>–</td></tr>
${roundRows}
</tbody>
</table>
<h2>Rewards per contributor</h2>
<table>
<thead><tr><th>contributor</th><th>address</th><th>role</th><th>samples</th>${roundHeaders}<th>earned</th><th>claimed</th><th>balance</th></tr></thead>
<tbody>
${contributorRows}
</tbody>
</table>
<h2>Gated inference</h2>
<ul>
${inference}
</ul>
<h2>Settings</h2>
<table>
<tbody>
${settings.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${k === "reward per round" || k === "chain" ? v : escapeHtml(v)}</td></tr>`).join("\n")}
</tbody>
</table>
<p>Contracts: token <code>${escapeHtml(result.chain.token)}</code>, registry <code>${escapeHtml(result.chain.registry)}</code>, distributor <code>${escapeHtml(result.chain.distributor)}</code>.</p>
</body>
</html>
`;
}
