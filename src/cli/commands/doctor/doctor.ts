import { ExitCode } from "../../../core/errors.js";
import type { CliContext } from "../../context.js";
import { formatTable } from "../../output.js";
import { runDoctor, type CheckStatus } from "./checks.js";

export async function doctor(ctx: CliContext, opts: { allowSoftwareGpu?: boolean } = {}): Promise<void> {
  const spin = await ctx.out.spinner("Checking…");
  const report = await runDoctor(ctx, { allowSoftwareGpu: opts.allowSoftwareGpu ? true : undefined });
  spin.stop();
  ctx.out.result(report, (r, c) => {
    const mark = (s: CheckStatus) => (s === "ok" ? c.green("ok") : s === "warn" ? c.yellow("warn") : s === "fail" ? c.red("FAIL") : c.dim("skip"));
    const lines = formatTable(["CHECK", "STATUS", "DETAIL"], r.checks.map((k) => [k.name, k.status, k.summary]));
    // Colour after alignment so escape codes do not skew the columns.
    const coloured = lines.map((line, i) => (i === 0 ? c.bold(line) : line.replace(/^(\S+\s+)(ok|warn|fail|skip)/, (_m, a, s) => a + mark(s as CheckStatus))));
    if (r.backends.length) {
      coloured.push("", c.bold("tfjs backends"));
      for (const b of r.backends) {
        const what = b.available ? (b.detail ? `: ${b.detail}` : "") : `: ${b.reason ?? "not available"}`;
        coloured.push(`  ${b.available ? c.green("✔") : c.red("✘")} ${b.name}${what}${b.warning ? c.yellow(` (${b.warning})`) : ""}`);
        if (!b.available && b.adapter) coloured.push(c.dim(`      ${b.hint ?? ""}`));
      }
    }
    coloured.push("", r.ok ? c.green("Everything configured works.") : c.red("Some checks failed."));
    return coloured;
  });
  if (!report.ok) process.exitCode = ExitCode.failed;
}
