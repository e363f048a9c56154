/**
 * What `dat job report` shows: a job's rounds as the operator's database recorded them — the
 * learning curve, each round's submissions with their scores, rejections and rewards, the model
 * CIDs, the publish transactions and the slashes. Amounts are decimal strings of base units.
 */
import type Database from "better-sqlite3";
import { NotFoundError } from "../core/errors.js";
import { getJob } from "../db/jobs.js";
import { listRounds } from "../db/rounds.js";
import { listSubmissions } from "../db/submissions.js";
import { getSettlement } from "../db/settlements.js";
import { getRoundEcon } from "../db/econ.js";

export interface JobReportSubmission {
  address: string;
  sampleCount: number;
  status: "accepted" | "aggregated" | "rejected";
  rejectReason: string | null;
  score: number | null;
  /** Base units earned in this round; null when the round settled nothing (yet). */
  reward: string | null;
}

export interface JobReportRound {
  round: number;
  state: string;
  baseModelCid: string;
  modelCid: string | null;
  accuracy: number | null;
  loss: number | null;
  failureReason: string | null;
  openedAt: number;
  closedAt: number | null;
  submissions: JobReportSubmission[];
  /** Settlement: null before the round closed with a split. */
  settlement: { status: "pending" | "published"; rewardTotal: string; rewardRoot: string; treeCid: string; txHash: string | null } | null;
  /** Addresses slashed with the round's publication. */
  slashes: string[];
  /** Kinds of cheat evidence published with the round. */
  evidence: string[];
}

export interface JobReportContributor {
  address: string;
  /** Rounds with a submission that was not rejected. */
  rounds: number;
  rejected: number;
  /** Base units over all settled rounds. */
  earned: string;
  slashedInRounds: number[];
}

export interface JobReport {
  job: { id: number; name: string | null; strategy: string; rounds: number; minContributors: number; rewardPerRound: string; encoding: string; initialModelCid: string };
  rounds: JobReportRound[];
  contributors: JobReportContributor[];
}

/** Reads a job's report from the operator's database; NotFoundError JOB_NOT_FOUND (exit 4) for an unknown job. */
export function buildJobReport(db: Database.Database, jobId: number): JobReport {
  const job = getJob(db, jobId);
  if (!job) throw new NotFoundError(`No job ${jobId} in this home's database.`, { code: "JOB_NOT_FOUND", hint: "List jobs with: dat job list (a report reads the operator's home)" });
  const byAddress = new Map<string, { rounds: number; rejected: number; earned: bigint; slashedInRounds: number[] }>();
  const contributor = (address: string) => {
    const key = address.toLowerCase();
    let c = byAddress.get(key);
    if (!c) byAddress.set(key, (c = { rounds: 0, rejected: 0, earned: 0n, slashedInRounds: [] }));
    return c;
  };

  const rounds = listRounds(db, jobId).map((r): JobReportRound => {
    const settlement = getSettlement(db, String(jobId), r.round);
    const rewards = new Map((settlement?.amounts ?? []).map((a) => [a.address.toLowerCase(), a.amount]));
    const econ = getRoundEcon(db, jobId, r.round);
    const submissions = listSubmissions(db, jobId, r.round).map((s): JobReportSubmission => {
      const reward = settlement ? rewards.get(s.address.toLowerCase()) ?? 0n : null;
      const c = contributor(s.address);
      if (s.status === "rejected") c.rejected += 1;
      else c.rounds += 1;
      if (reward !== null) c.earned += reward;
      return { address: s.address, sampleCount: s.sampleCount, status: s.status, rejectReason: s.rejectReason, score: s.score, reward: reward === null ? null : reward.toString() };
    });
    for (const a of econ.slashes) contributor(a).slashedInRounds.push(r.round);
    const metric = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);
    return {
      round: r.round, state: r.state, baseModelCid: r.baseModelCid, modelCid: r.modelCid,
      accuracy: metric(r.metrics?.accuracy), loss: metric(r.metrics?.loss), failureReason: r.failureReason,
      openedAt: r.openedAt, closedAt: r.closedAt, submissions,
      settlement: settlement
        ? { status: settlement.status, rewardTotal: settlement.rewardTotal.toString(), rewardRoot: settlement.rewardRoot, treeCid: settlement.treeCid, txHash: settlement.txHash }
        : null,
      slashes: econ.slashes, evidence: econ.evidence.map((e) => e.kind),
    };
  });

  return {
    job: {
      id: job.id, name: job.name, strategy: job.strategy, rounds: job.rounds, minContributors: job.minContributors,
      rewardPerRound: job.rewardPerRound, encoding: job.encoding, initialModelCid: job.initialModelCid,
    },
    rounds,
    contributors: [...byAddress.entries()]
      .map(([address, c]) => ({ address, rounds: c.rounds, rejected: c.rejected, earned: c.earned.toString(), slashedInRounds: c.slashedInRounds }))
      .sort((a, b) => (BigInt(b.earned) > BigInt(a.earned) ? 1 : BigInt(b.earned) < BigInt(a.earned) ? -1 : a.address.localeCompare(b.address))),
  };
}
