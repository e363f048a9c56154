/** The demo's progress hooks and stages (runDemo and its steps report through them). */
import type { DemoClaim, DemoInferenceOutcome, DemoResult, DemoRound, DemoSubmission } from "./types.js";

export type DemoStage =
  | "homes"
  | "chain"
  | "data"
  | "model"
  | "job"
  | "stake"
  | "register"
  | "round.open"
  | "round.close"
  | "round.settle"
  | "claims"
  | "inference"
  | "cleanup";

/** Live progress; every hook is optional and must not throw. */
export interface DemoHooks {
  stage?(stage: DemoStage, detail: Record<string, unknown>): void;
  /** Once the chain, homes, data and job exist (before round 1). */
  ready?(setup: Pick<DemoResult, "chain" | "jobId" | "contributors" | "baseline" | "validationSamples" | "settings">): void;
  submission?(round: number, submission: DemoSubmission): void;
  round?(round: DemoRound, history: readonly DemoRound[]): void;
  claim?(claim: DemoClaim): void;
  inference?(outcome: DemoInferenceOutcome): void;
}

/** Reports a stage with its details. */
export type DemoEmit = (stage: DemoStage, detail?: Record<string, unknown>) => void;
