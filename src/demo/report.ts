/**
 * The demo's HTML report: the shared report renderer (src/core/report/html.ts, which
 * `dat job report --html` uses too) with the learning curve, a per-round table, rewards per
 * contributor and the two inference outcomes. Pure: DemoResult in, HTML string out.
 */
import type { DemoResult } from "./types.js";
import {
  codeCell, escapeHtml, formatUnits, renderHtmlDocument, renderHtmlTable, renderLearningCurves,
  renderRoundsTable, scoreRewardCell,
} from "../core/report/html.js";

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
  const s = result.settings;

  const curve = [
    { label: "start", accuracy: result.baseline?.accuracy, loss: result.baseline?.loss },
    ...result.rounds.map((r) => ({ label: `round ${r.round}`, accuracy: r.accuracy, loss: r.loss })),
  ];
  const rounds = renderRoundsTable([
    { round: "start", state: "initial model", submissions: "–", accuracy: result.baseline?.accuracy, loss: result.baseline?.loss, txNote: "–" },
    ...result.rounds.map((r) => ({ round: r.round, state: r.state, submissions: r.submissions.length, accuracy: r.accuracy, loss: r.loss, modelCid: r.modelCid, txHash: r.txHash })),
  ]);

  const totals = earnedByContributor(result.rounds);
  const claimed = new Map(result.claims.map((c) => [c.contributor, c]));
  const rewards = renderHtmlTable(
    ["contributor", "address", "role", "samples", ...result.rounds.map((r) => ({ html: `round ${r.round}<br>score → reward` })), "earned", "claimed", "balance"],
    result.contributors.map((c) => {
      const claim = claimed.get(c.name);
      return [
        c.name, codeCell(c.address), c.attack ? `attacker (${c.attack.kind} ×${c.attack.factor})` : "honest", c.samples,
        ...result.rounds.map((r) => {
          const sc = r.scores.find((x) => x.contributor === c.name);
          return sc ? scoreRewardCell(sc.score, sc.reward, token) : "–";
        }),
        { html: amount((totals.get(c.name) ?? 0n).toString()) },
        claim ? { html: amount(claim.claimed) } : "–",
        claim ? { html: amount(claim.balance) } : "–",
      ];
    }),
  );

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
  const settingsTable = `<table>
<tbody>
${settings.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${k === "reward per round" || k === "chain" ? v : escapeHtml(v)}</td></tr>`).join("\n")}
</tbody>
</table>`;

  const generated = (options.generatedAt ?? new Date()).toISOString();
  return renderHtmlDocument({
    title: `dat demo report — job ${result.jobId}`,
    heading: `dat demo — job ${result.jobId}`,
    intro: `Generated ${generated}. ${result.contributors.length} contributors trained on private shards for ${result.rounds.length} rounds; each round was aggregated, evaluated and settled on-chain in one transaction.`,
    sections: [
      { heading: "Learning curve", html: renderLearningCurves(curve) },
      { heading: "Rounds", html: rounds },
      { heading: "Rewards per contributor", html: rewards },
      { heading: "Gated inference", html: `<ul>\n${inference}\n</ul>` },
      { heading: "Settings", html: settingsTable },
    ],
    footer: `<p>Contracts: token <code>${escapeHtml(result.chain.token)}</code>, registry <code>${escapeHtml(result.chain.registry)}</code>, distributor <code>${escapeHtml(result.chain.distributor)}</code>.</p>`,
  });
}
