/**
 * `dat job report --job <id> [--html <file>]`: a job's rounds from the operator's database — the
 * learning curve, contributors with scores and rewards per round, rejections, model CIDs, publish
 * transactions and slashes. `--html` writes the same self-contained report as the demo's
 * `--report` (src/core/report/html.ts); `--json` prints the report data.
 */
import fs from "node:fs";
import type { CliContext } from "../../context.js";
import { UserError } from "../../../core/errors.js";
import {
  codeCell, escapeHtml, formatUnits, renderHtmlDocument, renderHtmlTable, renderLearningCurves, renderRoundsTable, scoreRewardCell,
  type HtmlCell,
} from "../../../core/report/html.js";
import type { JobReport, JobReportRound } from "../../../orchestrator/jobReport.js";
import { formatTable } from "../../output.js";
import { formatAddress, formatMetric, formatPercent, formatTokenAmount } from "../../format.js";
import { parseJobId } from "./show.js";
import { accuracyCurveLine } from "../round/status.js";
import { terminalSupportsUnicode } from "../../sparkline.js";

export interface JobReportOptions {
  job: string;
  html?: string;
}

/** dat's own token: rewards are DatToken base units. */
const TOKEN = { decimals: 18, symbol: "DAT" };

function publishCell(r: JobReportRound): { txHash?: string | null; txNote?: string } {
  if (r.settlement?.status === "published") return { txHash: r.settlement.txHash };
  if (r.settlement) return { txNote: "pending (dat round publish)" };
  return { txNote: r.state === "failed" ? `failed: ${r.failureReason ?? "no reason recorded"}` : "not published" };
}

/** The job's report as one HTML document (pure). */
export function renderJobReportHtml(report: JobReport, options: { generatedAt?: Date } = {}): string {
  const { job, rounds } = report;
  const amount = (units: string) => `${escapeHtml(formatUnits(units, TOKEN.decimals, 4))} ${TOKEN.symbol}`;
  const generated = (options.generatedAt ?? new Date()).toISOString();

  const roundsTable = renderRoundsTable(rounds.map((r) => ({
    round: r.round, state: r.state, submissions: r.submissions.length, accuracy: r.accuracy, loss: r.loss, modelCid: r.modelCid, ...publishCell(r),
  })));

  const cell = (r: JobReportRound, address: string): string | HtmlCell => {
    const s = r.submissions.find((x) => x.address.toLowerCase() === address);
    if (!s) return "–";
    if (s.status === "rejected") return { html: `<span class="rejected">rejected: ${escapeHtml(s.rejectReason ?? "no reason recorded")}</span>` };
    if (s.status === "accepted" || s.score === null) return "submitted";
    return s.reward === null ? s.score.toFixed(3) : scoreRewardCell(s.score, s.reward, TOKEN);
  };
  const contributors = report.contributors.length === 0
    ? "<p>No submissions yet.</p>"
    : renderHtmlTable(
      ["address", ...rounds.map((r) => ({ html: `round ${r.round}<br>score → reward` })), "earned", "slashed"],
      report.contributors.map((c) => [
        codeCell(formatAddress(c.address)), ...rounds.map((r) => cell(r, c.address)), { html: amount(c.earned) },
        c.slashedInRounds.length ? `round ${c.slashedInRounds.join(", ")}` : "–",
      ]),
    );

  const slashRows = rounds.flatMap((r) => r.slashes.map((a) => [r.round, codeCell(formatAddress(a)), r.evidence.join(", ") || "–"]));
  const rejectionRows = rounds.flatMap((r) => r.submissions.filter((s) => s.status === "rejected").map((s) => [r.round, codeCell(formatAddress(s.address)), s.rejectReason ?? "–"]));

  return renderHtmlDocument({
    title: `dat job report — job ${job.id}`,
    heading: `dat job ${job.id}${job.name ? ` — ${job.name}` : ""}`,
    intro: `Generated ${generated} from the operator's database. ${rounds.filter((r) => r.state === "published").length} of ${job.rounds} rounds published; `
      + `strategy ${job.strategy}, encoding ${job.encoding}, at least ${job.minContributors} contributor(s) per round, reward ${formatUnits(job.rewardPerRound, TOKEN.decimals, 4)} ${TOKEN.symbol} per round.`,
    sections: [
      { heading: "Learning curve", html: renderLearningCurves(rounds.map((r) => ({ label: `round ${r.round}`, accuracy: r.accuracy, loss: r.loss }))) },
      { heading: "Rounds", html: roundsTable },
      { heading: "Contributors and rewards per round", html: contributors },
      { heading: "Slashes", html: slashRows.length ? renderHtmlTable(["round", "address", "evidence"], slashRows) : "<p>No slashes.</p>" },
      { heading: "Rejections", html: rejectionRows.length ? renderHtmlTable(["round", "address", "reason"], rejectionRows) : "<p>No rejected submissions.</p>" },
    ],
    footer: `<p>Initial model <code>${escapeHtml(job.initialModelCid)}</code>.</p>`,
  });
}

/** Human lines: the one-line curve, the rounds, the contributors. */
function reportLines(report: JobReport & { html: string | null }, ascii: boolean): string[] {
  return [
    `job ${report.job.id}${report.job.name ? ` (${report.job.name})` : ""}: ${report.rounds.length} round(s), ${report.contributors.length} contributor(s)`,
    ...accuracyCurveLine(report.rounds, { ascii }),
    "",
    ...(report.rounds.length === 0 ? ["no rounds yet"] : formatTable(
      ["round", "state", "submissions", "accuracy", "loss", "slashed", "published"],
      report.rounds.map((r) => [
        r.round, r.state, `${r.submissions.filter((s) => s.status !== "rejected").length}/${r.submissions.length}`, formatPercent(r.accuracy), formatMetric(r.loss),
        r.slashes.length, r.settlement?.status === "published" ? r.settlement.txHash ?? "yes" : r.settlement ? "pending" : "-",
      ]),
    )),
    ...(report.contributors.length === 0 ? [] : ["", ...formatTable(
      ["contributor", "rounds", "rejected", "earned", "slashed in"],
      report.contributors.map((c) => [formatAddress(c.address), c.rounds, c.rejected, formatTokenAmount(c.earned), c.slashedInRounds.join(", ") || "-"]),
    )]),
    ...(report.html ? ["", `report written to ${report.html}`] : []),
  ];
}

export async function jobReport(ctx: CliContext, opts: JobReportOptions): Promise<void> {
  const jobId = parseJobId(opts.job, "--job");
  if (opts.html !== undefined && opts.html.trim() === "") throw new UserError("--html needs a file name.", { code: "REPORT_UNWRITABLE", hint: "dat job report --job 1 --html report.html" });
  const [{ openDatabase }, { buildJobReport }] = await Promise.all([import("../../../db/index.js"), import("../../../orchestrator/jobReport.js")]);
  const db = openDatabase(ctx.home);
  let report: JobReport;
  try {
    report = buildJobReport(db, jobId);
  } finally {
    db.close();
  }
  if (opts.html !== undefined) {
    try {
      fs.writeFileSync(opts.html, renderJobReportHtml(report));
    } catch (error) {
      throw new UserError(`Cannot write the report to ${opts.html}: ${(error as Error).message}`, {
        code: "REPORT_UNWRITABLE",
        hint: "Give --html a file in a folder that exists and that you may write to.",
        data: { path: opts.html, cause: (error as NodeJS.ErrnoException).code },
      });
    }
  }
  ctx.out.result({ ...report, html: opts.html ?? null }, (r) => reportLines(r, !terminalSupportsUnicode(ctx.env)));
}
