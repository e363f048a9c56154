/**
 * `dat demo` as a service: the whole network in one process, for real — Hardhat Network with
 * dat's contracts, an operator home with the embedded orchestrator and the local blob store,
 * N contributor homes each with its own wallet and private shard, R rounds of training,
 * aggregation, evaluation and on-chain settlement, claims, then gated inference by a token
 * holder (answered) and by a non-holder (denied). Knows nothing of the terminal: progress goes
 * out through `hooks`, the result is returned.
 *
 * Every home lives in one temporary folder that is removed at the end (unless `keep`). Because
 * those wallets are throw-away, their keystores are made with a low scrypt cost (DAT_SCRYPT_N
 * 1024, passed to the keystore only, never set in the process environment): creating 5 wallets at
 * the standard cost would take longer than the whole demo.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Address } from "viem";
import type { DemoOptions } from "./options.js";
import type { DemoInferenceOutcome, DemoResult } from "./types.js";
import type { DemoHooks, DemoStage } from "./hooks.js";
import { TOKEN_DECIMALS } from "./network.js";

export type { DemoHooks, DemoStage } from "./hooks.js";

/**
 * Run the demo scenario end to end and return every round's metrics, scores, rewards and
 * transaction hashes, the claims and the two inference outcomes.
 * Throws the typed error of the step that failed, after stopping the chain and removing the homes.
 */
export async function runDemo(options: DemoOptions, hooks: DemoHooks = {}): Promise<DemoResult> {
  const started = Date.now();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "dat-demo-"));
  const cleanups: (() => Promise<void> | void)[] = [];
  const emit = (stage: DemoStage, detail: Record<string, unknown> = {}) => hooks.stage?.(stage, detail);
  try {
    const { setupDemoNetwork } = await import("./network.js");
    const net = await setupDemoNetwork(options, root, hooks, emit, cleanups);
    const { runDemoRounds } = await import("./rounds.js");
    const { rounds, operatorChain } = await runDemoRounds(net, options, hooks, emit);
    const { claimDemoRewards } = await import("./claims.js");
    const claims = await claimDemoRewards(net, hooks, emit);
    const inference = await runDemoInference(net, claims, hooks, emit);
    const symbol = await tokenSymbol(operatorChain.publicClient, net.launched.contracts.token as Address);
    return {
      settings: net.settings,
      chain: net.chainInfo,
      jobId: String(net.jobId),
      contributors: net.demoContributors,
      baseline: net.baseline,
      validationSamples: net.validationSamples,
      rounds,
      claims,
      inference,
      token: { symbol, decimals: TOKEN_DECIMALS },
      durationMs: Date.now() - started,
    };
  } finally {
    emit("cleanup", { root, kept: options.keep });
    for (const undo of cleanups.reverse()) {
      try {
        await undo();
      } catch {
        // Cleaning up must not hide the error (or the result) of the run itself.
      }
    }
    if (!options.keep) fs.rmSync(root, { recursive: true, force: true });
  }
}

/** Gated inference by the richest contributor (answered) and by the outsider (denied). */
async function runDemoInference(
  net: import("./network.js").DemoNetwork,
  claims: import("./types.js").DemoClaim[],
  hooks: DemoHooks,
  emit: (stage: DemoStage, detail?: Record<string, unknown>) => void,
): Promise<DemoInferenceOutcome[]> {
  const { contributors, outsider, operator, jobId, orchestrator, data } = net;
  // --- gated inference -----------------------------------------------------------------------
  emit("inference", {});
  const { runGatedInference } = await import("./infer.js");
  const richest = claims.reduce((best, c) => (BigInt(c.balance) > BigInt(best.balance) ? c : best), claims[0]);
  const holder = contributors.find((p) => p.account.address === richest.address)!;
  const inference: DemoInferenceOutcome[] = [];
  for (const [who, p] of [["holder", holder], ["non-holder", outsider]] as const) {
    const outcome = await runGatedInference({
      who,
      operatorHome: operator.home,
      account: p.account,
      jobId,
      orchestrator,
      samples: data.validation,
    });
    inference.push(outcome);
    hooks.inference?.(outcome);
  }

  return inference;
}

async function tokenSymbol(publicClient: import("viem").PublicClient, token: Address): Promise<string> {
  const { DatToken } = await import("../chain/artifacts/index.js");
  return String(await publicClient.readContract({ address: token, abi: DatToken.abi, functionName: "symbol" }));
}

