/**
 * The demo's result: everything `dat demo --json` prints and the HTML report draws. Amounts are
 * token base units as decimal strings (bigints do not survive JSON).
 */

export type AttackKind = "sign-flip" | "scale";

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
  predictions?: { label: string | number; confidence: number }[];
  /** Present when denied. */
  denial?: { code: string; message: string; held?: string; required?: string; token?: string };
}

export interface DemoSettings {
  contributors: number;
  rounds: number;
  strategy: string;
  strategyParams: Record<string, string>;
  encoding: string;
  partition: string;
  epochs: number;
  seed: number;
  attackers: number;
  attack: AttackKind;
  attackFactor: number;
  dpClip?: number;
  dpNoise?: number;
  data: string;
  model: string;
  rewardPerRound: string;
}

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
