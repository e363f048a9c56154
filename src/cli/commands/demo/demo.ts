/**
 * `dat demo`: parse the options, run the scenario (src/demo/runDemo.ts) and render it live —
 * each round's submissions, validation accuracy and loss, the learning curve, scores, rewards and
 * the publish transaction, then the claims and the two inference outcomes. Under --json the live
 * view becomes JSON event lines on stderr and stdout carries one document with the whole result.
 */
import fs from "node:fs";
import { attackerShare } from "../../../demo/attackerShare.js";
import path from "node:path";
import type { ChalkInstance } from "chalk";
import type { CliContext } from "../../context.js";
import { formatTable } from "../../output.js";
import { UserError } from "../../../core/errors.js";
import { parseDemoOptions, type RawDemoOptions } from "../../../demo/options.js";
import { renderLineChart } from "../../../demo/chart.js";
import { earnedByContributor, renderHtmlReport } from "../../../demo/report.js";
import { formatMetric, formatPercent, formatTokenAmount } from "../../format.js";
import type { DemoInferenceOutcome, DemoResult, DemoRound } from "../../../demo/types.js";

/** Predictions as "5 ✓ (61%)": the class, whether it matches the example's true label, the confidence. */
function describePredictions(o: DemoInferenceOutcome): string {
  return (o.predictions ?? [])
    .map((p) => {
      const mark = p.truth === undefined ? "" : String(p.label) === String(p.truth) ? " ✓" : ` ✗ (true ${p.truth})`;
      return `${p.label}${mark} (${(p.confidence * 100).toFixed(0)}%)`;
    })
    .join(", ");
}

/** "holds 0 DAT, needs 1 DAT" when the denial carries both balances, else its message. */
function describeDenial(o: DemoInferenceOutcome, amount: (units: string) => string): string {
  const d = o.denial;
  return d?.held !== undefined && d.required !== undefined ? `holds ${amount(d.held)}, needs ${amount(d.required)}` : (d?.message ?? "");
}

/** The learning curve of the baseline and every round so far, as terminal text. */
export function learningCurve(baseline: { accuracy?: number; loss?: number } | undefined, rounds: readonly DemoRound[]): string {
  const accuracy = [baseline?.accuracy ?? Number.NaN, ...rounds.map((r) => r.accuracy ?? Number.NaN)];
  const loss = [baseline?.loss ?? Number.NaN, ...rounds.map((r) => r.loss ?? Number.NaN)];
  const maxLoss = Math.max(...loss.filter((v) => Number.isFinite(v)), 1e-9);
  return renderLineChart(
    [
      { name: "validation accuracy", values: accuracy, marker: "●" },
      // Scaled into [0, 1] to share the axis; the table carries the real values.
      { name: `validation loss ÷ ${maxLoss.toFixed(2)}`, values: loss.map((v) => v / maxLoss), marker: "▲" },
    ],
    { height: 9, width: Math.min(64, Math.max(32, 16 * rounds.length)), yMin: 0, yMax: 1, xLabel: (i) => (i === 0 ? "start" : `r${i}`) },
  );
}

export async function demo(ctx: CliContext, raw: RawDemoOptions & { report?: string }): Promise<void> {
  const options = parseDemoOptions(raw);
  if (raw.report !== undefined) {
    const dir = path.dirname(path.resolve(raw.report));
    if (!fs.existsSync(dir)) {
      throw new UserError(`Cannot write the report: folder ${dir} does not exist.`, { code: "DEMO_REPORT_PATH" });
    }
  }
  const { runDemo } = await import("../../../demo/runDemo.js");
  const c = ctx.out.color;
  // Live lines come before the result, which alone carries the token's symbol and decimals.
  const amount = (units: string) => formatTokenAmount(units);
  let baseline: { accuracy?: number; loss?: number } | undefined;

  const result = await runDemo(options, {
    stage(stage, detail) {
      ctx.out.event(`demo.${stage}`, detail);
      if (stage === "data" && !detail.description) {
        ctx.out.info(c.bold(`dat demo: ${options.contributors} contributors, ${options.rounds} rounds, ${options.strategy}, ${options.partition} split`));
        ctx.out.info(c.dim(`A real chain, orchestrator and wallets, all in this process; their temporary homes are ${options.keep ? "kept" : "removed at the end (--keep keeps them)"}.`));
      }
      if (stage === "chain" && detail.ready) ctx.out.info(`chain     Hardhat Network at ${detail.url} (chain ${detail.chainId}), contracts deployed`);
      if (stage === "data" && detail.description) ctx.out.info(`data      ${detail.description}; shards ${(detail.shards as number[]).join(" / ")}`);
      if (stage === "model" && detail.model) ctx.out.info(`model     ${detail.model} on ${detail.backend}; start accuracy ${formatPercent(detail.accuracy as number)}`);
      if (stage === "job") ctx.out.info(`job       ${detail.jobId} created (${detail.strategy}, ${detail.encoding})`);
      if (stage === "stake") ctx.out.info(`stake     every contributor staked ${amount(String(detail.minStake))}, the job's minimum`);
      if (stage === "round.open") ctx.out.info(`\n${c.bold(`round ${detail.round}`)}${c.dim(`  global model ${detail.modelCid}`)}`);
      if (stage === "claims") ctx.out.info(`\n${c.bold("claims")}  each contributor collects its rewards with a Merkle proof`);
      if (stage === "inference") ctx.out.info(`\n${c.bold("gated inference")}  only holders of the token may query the trained model`);
      if (stage === "cleanup" && detail.kept) ctx.out.info(`homes kept in ${detail.root}`);
    },
    ready(setup) {
      baseline = setup.baseline;
      ctx.out.event("demo.ready", setup as unknown as Record<string, unknown>);
      for (const p of setup.contributors) {
        ctx.out.info(`${p.name.padEnd(9)} ${p.address}  ${p.samples} examples${p.attack ? c.red(`  attacker: ${p.attack.kind} ×${p.attack.factor}`) : ""}`);
      }
    },
    submission(round, s) {
      ctx.out.event("demo.submission", { round, ...s });
      if (s.refused) ctx.out.info(`  ${s.contributor} refused by the orchestrator (${s.refused}: slashed earlier)${c.red(" poisoned")}`);
      else ctx.out.info(`  ${s.contributor} pushed a sealed delta (${s.samples} examples${s.trainLoss !== undefined ? `, train loss ${s.trainLoss.toFixed(3)}` : ""})${s.poisoned ? c.red(" poisoned") : ""}`);
    },
    round(r, history) {
      ctx.out.event("demo.round", r as unknown as Record<string, unknown>);
      ctx.out.info(`  aggregated: validation accuracy ${c.bold(formatPercent(r.accuracy))}, loss ${formatMetric(r.loss)}`);
      if (r.privacy) {
        const eps = r.privacy.epsilon === null ? "∞ (no noise)" : r.privacy.epsilon.toPrecision(3);
        ctx.out.info(`  privacy: ε = ${eps} at δ = ${r.privacy.delta} spent by each contributor so far`);
      }
      for (const s of r.scores) ctx.out.info(`  ${s.contributor.padEnd(4)} score ${s.score.toFixed(3)}  reward ${amount(s.reward)}`);
      ctx.out.info(`  published on-chain: ${r.txHash ?? c.red("not published")}`);
      // The closing summary draws the final curve; live, draw it after every earlier round.
      if (!ctx.out.json && !ctx.out.quiet && history.length < options.rounds) ctx.out.info(learningCurve(baseline, history));
    },
    claim(cl) {
      ctx.out.event("demo.claim", cl as unknown as Record<string, unknown>);
      ctx.out.info(`  ${cl.contributor.padEnd(4)} claimed ${amount(cl.claimed)} (tx ${cl.txHashes.join(", ") || "none"}); balance ${amount(cl.balance)}`);
    },
    inference(o) {
      ctx.out.event("demo.inference", o as unknown as Record<string, unknown>);
      if (o.answered) ctx.out.info(`  ${c.green("answered")} ${o.who} ${o.address}: predicted ${describePredictions(o)}`);
      else ctx.out.info(`  ${c.red("denied")}   ${o.who} ${o.address}: ${describeDenial(o, amount)}`);
    },
  });

  if (raw.report !== undefined) {
    fs.writeFileSync(raw.report, renderHtmlReport(result));
    ctx.out.info(`report written to ${raw.report}`);
  }
  ctx.out.result(result, (r, color) => renderSummary(r, color));
}

/** The closing summary on stdout: the curve, the rounds, rewards and inference in tables. */
export function renderSummary(r: DemoResult, c: ChalkInstance): string[] {
  const amount = (units: string) => formatTokenAmount(units, { decimals: r.token.decimals, symbol: r.token.symbol });
  const lines: string[] = ["", c.bold(`dat demo — job ${r.jobId}, ${r.rounds.length} rounds in ${(r.durationMs / 1000).toFixed(1)} s`), ""];
  lines.push(learningCurve(r.baseline, r.rounds), "");
  lines.push(
    ...formatTable(
      ["round", "state", "submissions", "accuracy", "loss", "publish tx"],
      [
        ["start", "initial", "–", formatPercent(r.baseline?.accuracy), formatMetric(r.baseline?.loss), "–"],
        ...r.rounds.map((x) => [String(x.round), x.state, String(x.submissions.length), formatPercent(x.accuracy), formatMetric(x.loss), x.txHash ?? "–"]),
      ],
    ),
    "",
  );
  const earned = earnedByContributor(r.rounds);
  lines.push(
    ...formatTable(
      ["contributor", "address", "role", ...r.rounds.map((x) => `score r${x.round}`), "earned", "claimed", "balance"],
      r.contributors.map((p) => {
        const claim = r.claims.find((x) => x.contributor === p.name);
        return [
          p.name,
          p.address,
          p.attack ? `attacker (${p.attack.kind})` : "honest",
          ...r.rounds.map((x) => x.scores.find((s) => s.contributor === p.name)?.score.toFixed(3) ?? "–"),
          amount((earned.get(p.name) ?? 0n).toString()),
          claim ? amount(claim.claimed) : "–",
          claim ? amount(claim.balance) : "–",
        ];
      }),
    ),
    "",
  );
  if (r.contributors.some((p) => p.attack)) {
    const share = attackerShare(r);
    lines.push(`attackers' share of rewards: ${c.bold(`${(share.share * 100).toFixed(2)}%`)} (${amount(share.attackers.toString())} of ${amount(share.total.toString())})`, "");
  }
  for (const o of r.inference) {
    if (o.answered) lines.push(`${c.green("✔ answered")} ${o.who} ${o.address}: predicted ${describePredictions(o)}`);
    else lines.push(`${c.red("✘ denied")}   ${o.who} ${o.address}: ${describeDenial(o, amount)}`);
  }
  lines.push(
    "",
    c.dim("Next: dat demo --attackers 1 --attack scale:20 --strategy median   (poisoned updates vs a robust strategy)"),
    c.dim("      dat demo --data <file.csv> --label-column <name>            (your own data)"),
    c.dim("      dat demo --report demo.html                                 (an HTML report)"),
  );
  return lines;
}
