/**
 * `dat job report` and the curve of `dat round status`, as real `dat` processes over an operator's
 * home whose database holds a job with two settled rounds (written through the db modules the
 * orchestrator uses): the HTML names every round's accuracy, the contributors, their rewards, the
 * rejection and the slash; --json carries the same data; an unknown job exits 4; an unwritable
 * path is a user error that says why.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../../../src/db/index.js";
import { insertJob } from "../../../../src/db/jobs.js";
import { insertRound, transitionRound } from "../../../../src/db/rounds.js";
import { insertSubmission, listSubmissions, markAggregated, markRejected } from "../../../../src/db/submissions.js";
import { insertPendingSettlement, markSettlementPublished } from "../../../../src/db/settlements.js";
import { saveRoundEvidence } from "../../../../src/db/econ.js";
import { renderSparkline, terminalSupportsUnicode } from "../../../../src/cli/sparkline.js";
import { accuracyCurveLine } from "../../../../src/cli/commands/round/status.js";
import { jsonOf, removeTempDirs, runDat, tempDir } from "../../helpers.js";

const TOKENS = 10n ** 18n;
const alice = "0x" + "a1".repeat(20);
const bob = "0x" + "b2".repeat(20);
const carol = "0x" + "c3".repeat(20);
const tx = (n: number) => `0x${String(n).repeat(64)}` as `0x${string}`;
let dir: string;
let home: string;

/** Two rounds of job 1: round 1 (alice, bob paid), round 2 (alice paid, bob paid, carol rejected and slashed). */
function seedHome(): void {
  const db = openDatabase(home);
  try {
    insertJob(db, {
      name: "digits", initialModelCid: "bafyinitial", fingerprint: "0x00", rounds: 3, minContributors: 2, maxContributors: null,
      deadlineSeconds: 60, epochs: 1, batchSize: 8, lr: 0.01, optimizer: "sgd", strategy: "fedavg", strategyParams: {},
      dpClip: null, dpNoise: null, encoding: "float32", rewardPerRound: (100n * TOKENS).toString(), validationPath: null, labelColumn: null,
      gateToken: null, gateMin: null, encryptModel: false,
    });
    const rounds = [
      { round: 1, accuracy: 0.4375, loss: 1.9, submitters: [alice, bob], rejected: [] as string[], rewards: [60n, 40n] },
      { round: 2, accuracy: 0.8125, loss: 0.61, submitters: [alice, bob, carol], rejected: [carol], rewards: [55n, 45n] },
    ];
    for (const r of rounds) {
      insertRound(db, { jobId: 1, round: r.round, publicKey: "0x01", privateKey: "0x02", baseModelCid: `bafybase${r.round}`, deadline: Date.now() + 60_000 });
      transitionRound(db, 1, r.round, { to: "collecting" });
      r.submitters.forEach((address, i) => insertSubmission(db, {
        jobId: 1, round: r.round, address, blobCid: `bafyblob${r.round}${i}`, sampleCount: 100 + i, metricsHash: "0x00", fingerprint: "0x00", signature: "0x00",
      }));
      for (const s of listSubmissions(db, 1, r.round)) {
        if (r.rejected.includes(s.address)) markRejected(db, s.id, "DELTA_COPY: a copy of another delta");
        else markAggregated(db, s.id, s.address === alice ? 0.6 : 0.4);
      }
      transitionRound(db, 1, r.round, { to: "aggregating", closedAt: Date.now() });
      transitionRound(db, 1, r.round, { to: "published", modelCid: `bafyround${r.round}`, metrics: { accuracy: r.accuracy, loss: r.loss } });
      insertPendingSettlement(db, {
        jobId: "1", round: r.round, modelCid: `bafyround${r.round}`, rewardTotal: 100n * TOKENS, rewardRoot: tx(9), treeCid: `bafytree${r.round}`,
        amounts: [{ address: alice, amount: r.rewards[0] * TOKENS }, { address: bob, amount: r.rewards[1] * TOKENS }],
      });
      markSettlementPublished(db, "1", r.round, { chainId: 31337, distributor: "0x" + "d".repeat(40), txHash: tx(r.round), blockNumber: 10 + r.round });
      saveRoundEvidence(db, 1, r.round, r.rejected.map((a) => ({ kind: "copy", ids: [a], slashable: true, measure: 1 })), r.rejected);
    }
  } finally {
    db.close();
  }
}

beforeAll(() => {
  ({ dir, home } = tempDir());
  seedHome();
});

afterAll(() => removeTempDirs());

describe("dat job report", () => {
  it("writes an HTML report with each round's accuracy, the contributors, rewards, the rejection and the slash", async () => {
    const file = path.join(dir, "job-1.html");
    const run = await runDat(["--home", home, "job", "report", "--job", "1", "--html", file]);
    expect(run.code, run.stderr).toBe(0);
    const html = fs.readFileSync(file, "utf8");
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).not.toMatch(/<script|<link|<img|src=|url\(|@import/i);
    expect(html).toContain("43.8%"); // round 1 accuracy
    expect(html).toContain("81.3%"); // round 2 accuracy
    expect(html).toMatch(/<polyline[^>]*points="[\d.]+,[\d.]+ [\d.]+,[\d.]+"/); // a curve through both rounds
    for (const cid of ["bafyround1", "bafyround2", tx(1), tx(2)]) expect(html).toContain(cid);
    // Contributors, checksummed, with score → reward per round and their total.
    expect(html.toLowerCase()).toContain(alice);
    expect(html.toLowerCase()).toContain(bob);
    expect(html).toContain("0.600 → 60 DAT");
    expect(html).toContain("0.400 → 45 DAT");
    expect(html).toContain("115 DAT"); // alice over both rounds
    expect(html).toContain("rejected: DELTA_COPY: a copy of another delta");
    // The slash: carol in round 2, with its evidence.
    expect(html.toLowerCase()).toMatch(new RegExp(`<h2>slashes</h2>[\\s\\S]*${carol}[\\s\\S]*copy`));
    expect(run.stdout).toContain(`report written to ${file}`);
  });

  it("prints the report data with --json", async () => {
    const run = await runDat(["--home", home, "--json", "job", "report", "--job", "1"]);
    expect(run.code, run.stderr).toBe(0);
    const data = jsonOf(run);
    expect(data.html).toBeNull();
    expect(data.job).toMatchObject({ id: 1, name: "digits", rewardPerRound: (100n * TOKENS).toString() });
    expect(data.rounds.map((r: { accuracy: number }) => r.accuracy)).toEqual([0.4375, 0.8125]);
    expect(data.rounds[1].slashes).toEqual([carol]);
    expect(data.rounds[1].settlement).toMatchObject({ status: "published", txHash: tx(2) });
    expect(data.rounds[1].submissions.find((s: { address: string }) => s.address === carol)).toMatchObject({ status: "rejected", reward: "0" });
    const byAddress = Object.fromEntries(data.contributors.map((c: { address: string }) => [c.address, c]));
    expect(byAddress[alice]).toMatchObject({ rounds: 2, rejected: 0, earned: (115n * TOKENS).toString(), slashedInRounds: [] });
    expect(byAddress[carol]).toMatchObject({ rounds: 0, rejected: 1, earned: "0", slashedInRounds: [2] });
  });

  it("exits 4 for an unknown job and 3 with the cause for a path it cannot write", async () => {
    const unknown = await runDat(["--home", home, "--json", "job", "report", "--job", "7", "--html", path.join(dir, "x.html")]);
    expect(unknown.code).toBe(4);
    expect(jsonOf(unknown).error.code).toBe("JOB_NOT_FOUND");
    expect(fs.existsSync(path.join(dir, "x.html"))).toBe(false);

    const missingFolder = path.join(dir, "no-such-folder", "r.html");
    const unwritable = await runDat(["--home", home, "job", "report", "--job", "1", "--html", missingFolder]);
    expect(unwritable.code).toBe(3);
    expect(unwritable.stderr).toContain(`Cannot write the report to ${missingFolder}`);
    expect(unwritable.stderr).toContain("ENOENT");
    const onAFolder = await runDat(["--home", home, "--json", "job", "report", "--job", "1", "--html", dir]);
    expect(onAFolder.code).toBe(3);
    expect(jsonOf(onAFolder).error).toMatchObject({ code: "REPORT_UNWRITABLE", data: { cause: "EISDIR" } });

    const badId = await runDat(["--home", home, "job", "report", "--job", "one"]);
    expect(badId.code).toBe(2);
  });
});

describe("the accuracy curve of dat round status", () => {
  it("renders one block per value between the range's ends, gaps for missing values, ASCII on request", () => {
    expect(renderSparkline([0, 0.25, 0.5, 0.75, 1], { min: 0, max: 1 })).toBe("▁▃▅▆█");
    expect(renderSparkline([0, 0.25, 0.5, 0.75, 1], { min: 0, max: 1, ascii: true })).toBe("_-=+#");
    expect(renderSparkline([2, 4])).toBe("▁█");
    expect(renderSparkline([0.3, null, 0.9], { min: 0, max: 1 })).toBe("▃ ▇");
    expect(renderSparkline([0.5, 0.5])).toBe("▄▄");
    expect(renderSparkline([-3, 7], { min: 0, max: 1 })).toBe("▁█"); // clamped
    expect(renderSparkline([])).toBe("");
    expect(renderSparkline([Number.NaN, undefined])).toBe("");
    expect(accuracyCurveLine([{ accuracy: 0.4375 }, { accuracy: 0.8125 }])).toEqual(["accuracy ▄▇ 43.8% → 81.3% (2 rounds measured)"]);
    expect(accuracyCurveLine([{ accuracy: 0.5 }], { ascii: true })).toEqual(["accuracy = 50.0% (1 round measured)"]);
    expect(accuracyCurveLine([{}, { accuracy: null }])).toEqual([]);
  });

  it("falls back to ASCII only where the locale names another encoding than UTF-8", () => {
    expect(terminalSupportsUnicode({})).toBe(true);
    expect(terminalSupportsUnicode({ LANG: "en_US.UTF-8" })).toBe(true);
    expect(terminalSupportsUnicode({ LANG: "C.utf8" })).toBe(true);
    expect(terminalSupportsUnicode({ LANG: "en_US.UTF-8", LC_ALL: "C" })).toBe(false);
    expect(terminalSupportsUnicode({ LC_CTYPE: "en_US.ISO-8859-1" })).toBe(false);
  });

  it("shows the curve over the job's rounds in the command's output", async () => {
    const unicode = await runDat(["--home", home, "round", "status", "--job", "1"], { env: { LANG: "en_US.UTF-8", LC_ALL: undefined, LC_CTYPE: undefined } });
    expect(unicode.code, unicode.stderr).toBe(0);
    expect(unicode.stdout).toContain("accuracy ▄▇ 43.8% → 81.3% (2 rounds measured)");
    const ascii = await runDat(["--home", home, "round", "status", "--job", "1"], { env: { LANG: "C", LC_ALL: undefined, LC_CTYPE: undefined } });
    expect(ascii.stdout).toContain("accuracy ~* 43.8% -> 81.3% (2 rounds measured)");
  });
});
