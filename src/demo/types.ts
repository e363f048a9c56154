/**
 * The demo's result: everything `dat demo --json` prints and the HTML report draws. Amounts are
 * token base units as decimal strings (bigints do not survive JSON).
 */
import type { AttackKind } from "./attacks.js";
import type { DemoOptions } from "./options.js";

export type { AttackKind };

export interface DemoContributor {
  /** "c1", "c2", … in creation order. */
  name: string;
  address: string;
  /** Training examples in this contributor's shard. */
  samples: number;
  /** Whether this contributor sends poisoned updates, and how. */
  attack?: { kind: AttackKind; factor: number };
}

export interface DemoSubmission {
  contributor: string;
  address: string;
  samples: number;
  /** Local training loss of the last epoch, when training reported it. */
  trainLoss?: number;
  poisoned: boolean;
  /** Set when the orchestrator refused the submission: its error code (e.g. STAKE_TOO_LOW once slashed). */
  refused?: string;
}

export interface DemoScore {
  contributor: string;
  address: string;
  score: number;
  /** Reward in token base units. */
  reward: string;
}

export interface DemoRound {
  round: number;
  state: string;
  submissions: DemoSubmission[];
  /** Validation metrics of the new global model (undefined when evaluation was impossible). */
  accuracy?: number;
  loss?: number;
  modelCid?: string;
  scores: DemoScore[];
  /** Publish transaction of the round; undefined when settlement failed. */
  txHash?: string;
  durationMs: number;
  /** With --dp-clip: (ε, δ) each contributor has spent after this round (ε null: no noise). */
  privacy?: { epsilon: number | null; delta: number };
}

export interface DemoClaim {
  contributor: string;
  address: string;
  /** Sum claimed, base units. */
  claimed: string;
  txHashes: string[];
  /** Token balance after claiming, base units. */
  balance: string;
}

export interface DemoInferenceOutcome {
  who: "holder" | "non-holder";
  address: string;
  answered: boolean;
  /** Predicted class per input when answered. */
  predictions?: {
    label: string | number;
    confidence: number;
    /** The example's true label, to show whether the answer was right. */
    truth?: number;
  }[];
  /** Present when denied. */
  denial?: { code: string; message: string; held?: string; required?: string; token?: string };
}

/** The settings a run used, as reported: the options that shape it plus what they resolved to. */
export type DemoSettings = Pick<
  DemoOptions,
  "contributors" | "rounds" | "strategy" | "strategyParams" | "encoding" | "partition" | "epochs" | "seed" | "attackers" | "dpClip" | "dpNoise"
> & {
  attack: AttackKind;
  attackFactor: number;
  /** `--attack-samples`: the count every attacker claimed. */
  attackSamples?: number;
  /** The job's minimum stake in base units (every demo contributor staked it). */
  minStake?: string;
  /** What the data was (generated, or the path and split). */
  data: string;
  model: string;
  /** Base units. */
  rewardPerRound: string;
};

export interface DemoResult {
  settings: DemoSettings;
  chain: { url: string; chainId: number; token: string; registry: string; distributor: string };
  jobId: string;
  contributors: DemoContributor[];
  /** Validation metrics of the initial model, before any round. */
  baseline?: { accuracy?: number; loss?: number };
  validationSamples: number;
  rounds: DemoRound[];
  claims: DemoClaim[];
  inference: DemoInferenceOutcome[];
  /** Token symbol and decimals, for rendering amounts. */
  token: { symbol: string; decimals: number };
  durationMs: number;
}
