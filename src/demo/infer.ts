/**
 * The demo's gated inference: a caller signs a fresh challenge with its own wallet and asks the
 * operator's inference engine (the one `dat serve` exposes) for predictions on a few validation
 * examples. The engine checks the job's gate token balance on-chain and answers, or refuses with
 * the balance held and required — both outcomes are recorded, neither is an error of the demo.
 */
import type { PrivateKeyAccount } from "viem/accounts";
import { isDatError } from "../core/errors.js";
import type { DataSource } from "../train/data/source.js";
import type { DemoInferenceOutcome } from "./types.js";

export interface GatedInferenceOptions {
  who: "holder" | "non-holder";
  account: PrivateKeyAccount;
  operatorHome: string;
  jobId: number;
  orchestrator: { db: import("better-sqlite3").Database; store: { get(cid: string): Promise<Uint8Array> } };
  /** Examples to classify (the first `count`). */
  samples: DataSource;
  count?: number;
}

/** Ask for predictions as `account`; return the answer or the denial. */
export async function runGatedInference(options: GatedInferenceOptions): Promise<DemoInferenceOutcome> {
  const { loadConfig } = await import("../config/index.js");
  const { InferenceEngine } = await import("../inference/engine.js");
  const { signChallenge } = await import("../inference/challenge.js");
  const config = (await loadConfig({ home: options.operatorHome, env: process.env })).values;
  const engine = new InferenceEngine({ db: options.orchestrator.db, store: options.orchestrator.store, config });
  const inputs: number[][] = [];
  const truths: number[] = [];
  const count = options.count ?? 5;
  for await (const sample of options.samples.read()) {
    inputs.push(Array.from(sample.x, (v) => Math.round(v * 1e4) / 1e4));
    truths.push(sample.y);
    if (inputs.length >= count) break;
  }
  const jobId = String(options.jobId);
  try {
    const challenge = await engine.challenge(jobId, "infer", "dat-demo");
    const signed = await signChallenge(options.account, challenge);
    const answer = await engine.infer(jobId, { challenge: signed }, { inputs });
    return {
      who: options.who,
      address: options.account.address,
      answered: true,
      predictions: answer.predictions.map((p, i) => ({ label: p.class, confidence: p.probabilities[p.classIndex] ?? 0, truth: truths[i] })),
    };
  } catch (error) {
    if (!isDatError(error) || error.exitCode !== 5) throw error;
    const data = error.data ?? {};
    return {
      who: options.who,
      address: options.account.address,
      answered: false,
      denial: {
        code: error.code,
        message: error.message,
        held: typeof data.held === "string" ? data.held : undefined,
        required: typeof data.required === "string" ? data.required : undefined,
        token: typeof data.token === "string" ? data.token : undefined,
      },
    };
  } finally {
    engine.close();
  }
}
