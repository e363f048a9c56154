/**
 * The demo network's setup: data and model first (a bad --data or --model fails before anything
 * starts), then the homes and wallets, the devnet with dat's contracts, the operator's embedded
 * orchestrator with the job, and the contributors registered through the Orchestrator interface.
 */
import path from "node:path";
import { randomBytes } from "node:crypto";
import type { PrivateKeyAccount } from "viem/accounts";
import type { DemoOptions } from "./options.js";
import type { DemoContributor as DemoContributorInfo, DemoResult } from "./types.js";
import type { DemoEmit, DemoHooks } from "./hooks.js";
import type { DemoContributor } from "./contributor.js";

export const TOKEN_DECIMALS = 18;
/** ETH given to each demo wallet for gas (claims). */
const WALLET_ETH = 10n ** 18n;
/** The demo job's minimum stake, and what every contributor gets and stakes: 10 DAT. */
export const DEMO_MIN_STAKE = 10n * 10n ** 18n;
const DEMO_SCRYPT_N = "1024";

export interface Participant {
  name: string;
  home: string;
  account: PrivateKeyAccount;
}

export type DemoNetwork = Awaited<ReturnType<typeof setupDemoNetwork>>;

/** Builds the whole network in `root`; every started part registers its undo in `cleanups`. */
export async function setupDemoNetwork(
  options: DemoOptions,
  root: string,
  hooks: DemoHooks,
  emit: DemoEmit,
  cleanups: (() => Promise<void> | void)[],
) {
  const { initHome } = await import("../crypto/initHome.js");
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
  const base = await evaluate(chosen.model, data.validationPreprocessed);
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
    await fundOnDevnet({
      rpcUrl: launched.url, address: p.account.address, eth: WALLET_ETH, tokens: p === outsider ? 0n : DEMO_MIN_STAKE,
      token: launched.contracts.token, minter: operator.account,
    });
  }
  emit("chain", { ...chainInfo, ready: true });

  // --- orchestrator and job ------------------------------------------------------------------
  const { createEmbeddedOrchestrator } = await import("../orchestrator/embedded.js");
  // Identity costs something: the job has a minimum stake, checked on the devnet at intake.
  const { connectChain } = await import("../chain/clients.js");
  const { setJobMinStake, stakeForJob } = await import("../chain/staking.js");
  const { publicClientStakeOracle } = await import("../orchestrator/stake.js");
  const staking = launched.contracts.staking;
  const operatorWallet = await connectChain({ rpcUrl: launched.url, account: operator.account });
  const orchestrator = await createEmbeddedOrchestrator({
    home: operator.home, staking: publicClientStakeOracle(operatorWallet.publicClient, staking),
  });
  cleanups.push(() => orchestrator.close());
  const { parseUnits } = await import("viem");
  const rewardPerRound = parseUnits(options.reward, TOKEN_DECIMALS);
  const job = await orchestrator.createJob(
    {
      name: "demo",
      rounds: options.rounds,
      // Attackers slashed in one round have no stake for the next: the rounds must close on the honest ones.
      minContributors: options.contributors - options.attackers,
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
      minStake: DEMO_MIN_STAKE.toString(),
      preprocess: data.preprocess,
    },
    initialBytes,
  );
  const jobId = job.id;
  await setJobMinStake(operatorWallet.publicClient, operatorWallet.walletClient!, { staking, jobId, amount: DEMO_MIN_STAKE });
  for (const p of contributors) {
    const wallet = await connectChain({ rpcUrl: launched.url, account: p.account });
    await stakeForJob(wallet.publicClient, wallet.walletClient!, { staking, jobId, amount: DEMO_MIN_STAKE });
  }
  emit("stake", { jobId, minStake: DEMO_MIN_STAKE.toString(), stakers: contributors.length });
  emit("job", { jobId, strategy: job.strategy, encoding: job.encoding });

  const { createDemoContributor } = await import("./contributor.js");
  const demoContributors: DemoContributorInfo[] = [];
  const copySlot: { round: number } = { round: 0 };
  const clients: DemoContributor[] = [];
  for (const [i, p] of contributors.entries()) {
    const attacker = i >= options.contributors - options.attackers;
    const client = await createDemoContributor({
      home: p.home,
      account: p.account,
      orchestrator,
      data: data.shards[i],
      backend: backend.name,
      seed: options.seed * 1000 + i,
      threads: options.threads,
      attack: attacker ? options.attack : undefined,
      ...(attacker && options.attackSamples !== undefined ? { claimSamples: options.attackSamples } : {}),
      ...(attacker ? { copySlot } : {}),
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
    ...(options.attackSamples !== undefined ? { attackSamples: options.attackSamples } : {}),
    minStake: DEMO_MIN_STAKE.toString(),
    dpClip: options.dpClip,
    dpNoise: options.dpNoise,
    data: data.description,
    model: chosen.description,
    rewardPerRound: rewardPerRound.toString(),
  };
  hooks.ready?.({ chain: chainInfo, jobId: String(jobId), contributors: demoContributors, baseline, validationSamples, settings });

  return {
    data, backend, operator, contributors, outsider, launched, orchestrator, jobId, rewardPerRound,
    demoContributors, clients, settings, chainInfo, baseline, validationSamples,
  };
}
