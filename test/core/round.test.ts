import { describe, expect, it } from "vitest";
import {
  ROUND_STATES, acceptsSubmissions, assertTransition, canTransition, decideClose, isTerminal, parseDurationSeconds,
  type RoundState,
} from "../../src/core/round.js";

describe("round state machine", () => {
  it("allows exactly the documented edges", () => {
    const legal = new Set([
      "open>collecting", "open>failed", "collecting>aggregating", "collecting>failed",
      "aggregating>aggregating", "aggregating>published", "aggregating>failed",
    ]);
    for (const from of ROUND_STATES) {
      for (const to of ROUND_STATES) {
        expect(canTransition(from, to), `${from}>${to}`).toBe(legal.has(`${from}>${to}`));
      }
    }
  });

  it("rejects illegal transitions with a typed error", () => {
    expect(() => assertTransition("published", "collecting")).toThrowError(/cannot become/);
    try {
      assertTransition("open", "published");
      expect.unreachable();
    } catch (error) {
      expect((error as { code: string }).code).toBe("ROUND_ILLEGAL_TRANSITION");
    }
  });

  it("requires a reason to fail", () => {
    expect(() => assertTransition("collecting", "failed")).toThrowError(/reason/);
    expect(() => assertTransition("collecting", "failed", "  ")).toThrowError(/reason/);
    expect(() => assertTransition("collecting", "failed", "too few")).not.toThrow();
  });

  it("accepts submissions only while collecting; terminal states are final", () => {
    const accepting = ROUND_STATES.filter((s) => acceptsSubmissions(s));
    expect(accepting).toEqual(["collecting"]);
    expect(ROUND_STATES.filter((s: RoundState) => isTerminal(s))).toEqual(["published", "failed"]);
  });
});

describe("decideClose", () => {
  const base = { state: "collecting" as RoundState, minContributors: 3, deadline: 1000, now: 500 };
  it("waits below the minimum before the deadline", () => {
    expect(decideClose({ ...base, accepted: 2 })).toEqual({ action: "wait", remainingMs: 500 });
  });
  it("closes once the minimum is reached", () => {
    expect(decideClose({ ...base, accepted: 3 })).toEqual({ action: "close", why: "min-reached" });
  });
  it("closes at the maximum", () => {
    expect(decideClose({ ...base, minContributors: 10, maxContributors: 4, accepted: 4 })).toEqual({ action: "close", why: "max-reached" });
  });
  it("fails after the deadline with too few", () => {
    const d = decideClose({ ...base, accepted: 1, now: 1000 });
    expect(d.action).toBe("fail");
    expect(d.action === "fail" && d.reason).toMatch(/1 valid submission\(s\), 3 required/);
  });
  it("resumes an aggregating round and does nothing on terminal ones", () => {
    expect(decideClose({ ...base, state: "aggregating", accepted: 0 })).toEqual({ action: "close", why: "resume" });
    expect(decideClose({ ...base, state: "published", accepted: 9 })).toEqual({ action: "none", why: "terminal" });
  });
});

describe("parseDurationSeconds", () => {
  it("parses units and rejects junk", () => {
    expect(parseDurationSeconds("10m")).toBe(600);
    expect(parseDurationSeconds("90")).toBe(90);
    expect(parseDurationSeconds("2h")).toBe(7200);
    expect(parseDurationSeconds("1500ms")).toBe(1.5);
    expect(parseDurationSeconds("ten")).toBeNull();
    expect(parseDurationSeconds("0s")).toBeNull();
    expect(parseDurationSeconds("-5m")).toBeNull();
  });
});
