/** Intake without a database: every check of a submission as a pure decision over its facts. */
import { describe, expect, it } from "vitest";
import { DeniedError } from "../../src/core/errors.js";
import { decideIntake, type IntakeFacts } from "../../src/orchestrator/intake.js";
import type { SignedSubmission } from "../../src/orchestrator/types.js";

const submission: SignedSubmission = {
  jobId: 1, round: 2, address: `0x${"ab".repeat(20)}`, blobCid: "bafkreiexample", sampleCount: 10,
  metricsHash: `0x${"00".repeat(32)}`, fingerprint: `0x${"cd".repeat(32)}`, signature: `0x${"11".repeat(65)}`,
};

function facts(overrides: Partial<IntakeFacts> = {}): IntakeFacts {
  return {
    sealedBytes: 100, maxBlobBytes: 1000,
    latest: { round: 2, state: "collecting" }, asked: { round: 2, state: "collecting" }, registered: true,
    signatureError: null, onchain: true,
    fingerprint: `0x${"CD".repeat(32)}`, duplicate: false,
    sampleCount: 10,
    commit: { count: 0, maxContributors: null },
    ...overrides,
  };
}

function rejected(f: IntakeFacts, s: SignedSubmission = submission): string {
  const decision = decideIntake(s, f);
  if (decision.accept) throw new Error("accepted");
  return decision.rejection.code;
}

describe("decideIntake", () => {
  it("accepts a well-formed submission to the collecting round", () => {
    expect(decideIntake(submission, facts())).toEqual({ accept: true });
  });

  it("rejects each failed check with its typed error", () => {
    expect(rejected(facts({ sealedBytes: 0 }))).toBe("SUBMISSION_EMPTY_BLOB");
    expect(rejected(facts({ sealedBytes: 1001 }))).toBe("SUBMISSION_TOO_LARGE");
    expect(rejected(facts({ latest: null, asked: null }))).toBe("SUBMISSION_WRONG_ROUND");
    expect(rejected(facts({ latest: { round: 3, state: "collecting" } }))).toBe("SUBMISSION_WRONG_ROUND");
    expect(rejected(facts({ latest: { round: 2, state: "aggregating" }, asked: { round: 2, state: "aggregating" } }))).toBe("SUBMISSION_WRONG_ROUND");
    expect(rejected(facts({ registered: false }))).toBe("NODE_NOT_REGISTERED");
    expect(rejected(facts({ signatureError: new DeniedError("bad signature", { code: "SIGNATURE_INVALID" }) }))).toBe("SIGNATURE_INVALID");
    expect(rejected(facts({ onchain: false }))).toBe("NODE_NOT_ONCHAIN");
    expect(rejected(facts({ fingerprint: `0x${"ef".repeat(32)}` }))).toBe("FINGERPRINT_MISMATCH");
    expect(rejected(facts({ duplicate: true }))).toBe("SUBMISSION_DUPLICATE");
    expect(rejected(facts({ sampleCount: 11 }))).toBe("SUBMISSION_SAMPLE_MISMATCH");
    expect(rejected(facts({ sampleCount: 0 }), { ...submission, sampleCount: 0 })).toBe("SUBMISSION_NO_SAMPLES");
    expect(rejected(facts({ commit: { count: 3, maxContributors: 3 } }))).toBe("ROUND_FULL");
    expect(rejected(facts({ commit: { count: 0, maxContributors: null, state: "aggregating" } }))).toBe("SUBMISSION_WRONG_ROUND");
  });

  it("names the round's state when the submission is for a round that stopped collecting", () => {
    const d = decideIntake(submission, facts({ latest: { round: 2, state: "published" }, asked: { round: 2, state: "published" } }));
    expect(d.accept).toBe(false);
    if (!d.accept) {
      expect(d.rejection.message).toBe("Round 2 of job 1 is published, not collecting submissions.");
      expect(d.rejection.data).toEqual({ jobId: 1, round: 2, current: null });
    }
  });

  it("checks in order: the round before the registration, the signature before the fingerprint", () => {
    expect(rejected(facts({ latest: null, asked: null, registered: false }))).toBe("SUBMISSION_WRONG_ROUND");
    expect(rejected(facts({ signatureError: new DeniedError("bad", { code: "SIGNATURE_INVALID" }), fingerprint: "0x00" }))).toBe("SIGNATURE_INVALID");
    expect(rejected(facts({ sealedBytes: 0, registered: false }))).toBe("SUBMISSION_EMPTY_BLOB");
  });
});
