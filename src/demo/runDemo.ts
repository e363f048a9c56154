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
import { randomBytes } from "node:crypto";
import type { Address } from "viem";
import type { DemoOptions } from "./options.js";
import type {
  DemoClaim, DemoContributor, DemoInferenceOutcome, DemoResult, DemoRound, DemoScore, DemoSubmission,
} from "./types.js";
import { OperationFailedError } from "../core/errors.js";
import { privacySpent } from "../core/privacy/spent.js";

export type DemoStage =
  | "homes"
  | "chain"
  | "data"
  | "model"
  | "job"
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

const TOKEN_DECIMALS = 18;
/** ETH given to each demo wallet for gas (claims). */
const WALLET_ETH = 10n ** 18n;
const DEMO_SCRYPT_N = "1024";

interface Participant {
  name: string;
  home: string;
  account: import("viem/accounts").PrivateKeyAccount;
}

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
    const { initHome } = await import("../config/initHome.js");
    const { updateConfig } = await import("../config/index.js");
    const { loadAccount } = await import("../crypto/keystore.js");
    const env = { ...process.env, DAT_SCRYPT_N: DEMO_SCRYPT_N };
    const passphrase = randomBytes(16).toString("hex");
    const makeHome = async (name: string): Promise<Participant> => {
      const home = path.join(root, name);
      await initHome(home, { passphrase, env });
      return { name, home, account: await loadAccount(home, passphrase) };
    };

    // --- data and model: first, so that a bad --data or --model fails before anything starts ----
    emit("data", {});
    const { prepareDemoData, writeValidationCsv } = await import("./data.js");
    const data = await prepareDemoData({
      contributors: options.contributors,
      partition: options.partition,
      seed: options.seed,
      samples: options.samples,
      testSplit: options.testSplit,
      data: options.data,
      labelColumn: options.labelColumn,
      test: options.test,
    });
    const validationFile = path.join(root, "validation.csv");
    const { labelColumn, rows: validationSamples } = await writeValidationCsv(data.validation, validationFile);
    emit("data", { description: data.description, shards: data.shards.map((s) => s.size), validation: validationSamples });

    emit("model", {});
    const { chooseDemoModel } = await import("./model.js");
    const { packModel } = await import("../train/modelIo.js");
    const { evaluate } = await import("../train/trainLocal.js");
    const { resolveBackend } = await import("../train/backends.js");
    const backend = await resolveBackend("auto");
    const chosen = await chooseDemoModel({ featureShape: data.featureShape, classes: data.classes, sample: data.shards[0] }, options);
    const initialBytes = await packModel(chosen.model);
    const base = await evaluate(chosen.model, data.validation);
    chosen.model.dispose();
    const baseline = { accuracy: base.accuracy, loss: base.loss };
    emit("model", { model: chosen.description, backend: backend.name, ...baseline });

    // --- homes and wallets ---------------------------------------------------------------------
    emit("homes", { root, contributors: options.contributors });
    const operator = await makeHome("operator");
    const contributors: Participant[] = [];
    for (let i = 1; i <= options.contributors; i++) contributors.push(await makeHome(`c${i}`));
    const outsider = await makeHome("non-holder");

    // --- chain ---------------------------------------------------------------------------------
    emit("chain", {});
    const { launchDevnet } = await import("../chain/launch.js");
    const { fundOnDevnet } = await import("../chain/fund.js");
    const launched = await launchDevnet({ home: operator.home, port: 0, accounts: 1, operator: operator.account.address });
    cleanups.push(() => launched.devnet.stop());
    const chainInfo = {
      url: launched.url,
      chainId: launched.chainId,
      token: launched.contracts.token,
      registry: launched.contracts.registry,
      distributor: launched.contracts.distributor,
    };
    for (const p of [...contributors, outsider]) {
      await updateConfig(p.home, (cfg) => {
        cfg.chain = {
          ...((cfg.chain ?? {}) as Record<string, unknown>),
          rpcUrl: launched.url,
          chainId: launched.chainId,
          deployments: { [String(launched.chainId)]: launched.contracts },
        };
        return cfg;
      });
      await fundOnDevnet({ rpcUrl: launched.url, address: p.account.address, eth: WALLET_ETH, tokens: 0n });
    }
    emit("chain", { ...chainInfo, ready: true });

    // --- orchestrator and job ------------------------------------------------------------------
    const { createEmbeddedOrchestrator } = await import("../orchestrator/embedded.js");
    const orchestrator = await createEmbeddedOrchestrator({ home: operator.home });
    cleanups.push(() => orchestrator.close());
    const { parseUnits } = await import("viem");
    const rewardPerRound = parseUnits(options.reward, TOKEN_DECIMALS);
    const job = await orchestrator.createJob(
      {
        name: "demo",
        rounds: options.rounds,
        minContributors: options.contributors,
        maxContributors: options.contributors,
        deadlineSeconds: 3600,
        hyper: { epochs: options.epochs, batchSize: options.batchSize, lr: options.lr, optimizer: "sgd" },
        strategy: options.strategy,
        strategyParams: Object.fromEntries(Object.entries(options.strategyParams).map(([k, v]) => [k, Number(v)])),
        dpClip: options.dpClip,
        dpNoise: options.dpNoise,
        encoding: options.encoding,
        rewardPerRound: rewardPerRound.toString(),
        validationPath: validationFile,
        labelColumn,
      },
      initialBytes,
    );
    const jobId = job.id;
    emit("job", { jobId, strategy: job.strategy, encoding: job.encoding });

    const { createDemoContributor } = await import("./contributor.js");
    const demoContributors: DemoContributor[] = [];
    const clients = [];
    for (const [i, p] of contributors.entries()) {
      const attacker = i >= options.contributors - options.attackers;
      const client = await createDemoContributor({
        home: p.home,
        account: p.account,
        orchestrator,
        data: data.shards[i],
        backend: backend.name,
        seed: options.seed * 1000 + i,
        attack: attacker ? options.attack : undefined,
      });
      clients.push(client);
      await client.register();
      demoContributors.push({
        name: p.name,
        address: p.account.address,
        samples: data.shards[i].size,
        attack: attacker ? { kind: options.attack.kind, factor: options.attack.factor } : undefined,
      });
    }
    emit("register", { nodes: demoContributors.length });

    const settings: DemoResult["settings"] = {
      contributors: options.contributors,
      rounds: options.rounds,
      strategy: options.strategy,
      strategyParams: options.strategyParams,
      encoding: job.encoding,
      partition: options.partition,
      epochs: options.epochs,
      seed: options.seed,
      attackers: options.attackers,
      attack: options.attack.kind,
      attackFactor: options.attack.factor,
      dpClip: options.dpClip,
      dpNoise: options.dpNoise,
      data: data.description,
      model: chosen.description,
      rewardPerRound: rewardPerRound.toString(),
    };
    hooks.ready?.({ chain: chainInfo, jobId: String(jobId), contributors: demoContributors, baseline, validationSamples, settings });

    // --- rounds --------------------------------------------------------------------------------
    const { connectChain } = await import("../chain/clients.js");
    const { settleRound } = await import("../chain/settle.js");
    const operatorChain = await connectChain({ rpcUrl: launched.url, account: operator.account });
    const byAddress = new Map(demoContributors.map((c) => [c.address.toLowerCase(), c]));
    const rounds: DemoRound[] = [];
    for (let r = 1; r <= options.rounds; r++) {
      const roundStarted = Date.now();
      const info = await orchestrator.openRound(jobId);
      emit("round.open", { round: info.round, modelCid: info.modelCid });
      const submissions: DemoSubmission[] = [];
      for (const [i, client] of clients.entries()) {
        const pushed = await client.trainAndPush(jobId);
        const sub: DemoSubmission = {
          contributor: demoContributors[i].name,
          address: demoContributors[i].address,
          samples: pushed.sampleCount,
          trainLoss: pushed.trainLoss,
          poisoned: demoContributors[i].attack !== undefined,
        };
        submissions.push(sub);
        hooks.submission?.(info.round, sub);
      }
      emit("round.close", { round: info.round });
      const closed = await orchestrator.closeRound(jobId);
      const metrics = closed.metrics ?? {};
      const round: DemoRound = {
        round: closed.round,
        state: closed.state,
        submissions,
        accuracy: typeof metrics.accuracy === "number" ? metrics.accuracy : undefined,
        loss: typeof metrics.loss === "number" ? metrics.loss : undefined,
        modelCid: closed.modelCid ?? undefined,
        scores: [],
        durationMs: 0,
        // What each contributor has spent so far, as the orchestrator reports it to contributors.
        ...(options.dpClip !== undefined ? { privacy: privacySpent({ clip: options.dpClip, noise: options.dpNoise ?? 0 }, closed.round) } : {}),
      };
      if (closed.state === "published" && closed.modelCid) {
        emit("round.settle", { round: closed.round });
        const settled = await settleRound({
          db: orchestrator.db,
          store: orchestrator.store,
          publicClient: operatorChain.publicClient,
          walletClient: operatorChain.walletClient!,
          distributor: launched.contracts.distributor,
          jobId,
          round: closed.round,
          modelCid: closed.modelCid,
          rewardTotal: rewardPerRound,
          scores: closed.scores.map((s) => ({ address: s.address, score: s.score })),
        });
        round.txHash = settled.txHash ?? undefined;
        const paid = new Map(settled.amounts.map((a) => [a.address.toLowerCase(), a.amount]));
        round.scores = closed.scores.map((s): DemoScore => ({
          contributor: byAddress.get(s.address.toLowerCase())?.name ?? s.address,
          address: byAddress.get(s.address.toLowerCase())?.address ?? s.address,
          score: s.score,
          reward: (paid.get(s.address.toLowerCase()) ?? 0n).toString(),
        }));
      }
      round.durationMs = Date.now() - roundStarted;
      rounds.push(round);
      hooks.round?.(round, rounds);
      if (closed.state !== "published") {
        throw new OperationFailedError(`Round ${closed.round} did not publish: ${closed.failureReason ?? closed.state}.`, {
          code: "DEMO_ROUND_FAILED",
          hint: "Try another --strategy or fewer --attackers.",
          data: { round: closed.round, reason: closed.failureReason },
        });
      }
    }

    // --- claims --------------------------------------------------------------------------------
    emit("claims", {});
    const { claimRewards } = await import("../chain/rewards.js");
    const claims: DemoClaim[] = [];
    for (const [i, p] of contributors.entries()) {
      const conn = await connectChain({ rpcUrl: launched.url, account: p.account });
      const claimed = await claimRewards({
        publicClient: conn.publicClient,
        walletClient: conn.walletClient!,
        distributor: launched.contracts.distributor,
        fromBlock: launched.contracts.blockNumber,
        store: orchestrator.store,
        jobId,
      });
      const claim: DemoClaim = {
        contributor: demoContributors[i].name,
        address: p.account.address,
        claimed: claimed.total.toString(),
        txHashes: claimed.txHashes,
        balance: claimed.balance.toString(),
      };
      claims.push(claim);
      hooks.claim?.(claim);
    }

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

    const symbol = await tokenSymbol(operatorChain.publicClient, launched.contracts.token as Address);
    return {
      settings,
      chain: chainInfo,
      jobId: String(jobId),
      contributors: demoContributors,
      baseline,
      validationSamples,
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

async function tokenSymbol(publicClient: import("viem").PublicClient, token: Address): Promise<string> {
  const { DatToken } = await import("../chain/artifacts/index.js");
  return String(await publicClient.readContract({ address: token, abi: DatToken.abi, functionName: "symbol" }));
}

