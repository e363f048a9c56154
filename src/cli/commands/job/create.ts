/** `dat job create`: check the flags, create the job, print its id. */
import path from "node:path";
import type { CliContext } from "../../context.js";
import { UsageError } from "../../../core/errors.js";
import { parseDurationSeconds } from "../../../core/round.js";
import type { CreateJobInput } from "../../../orchestrator/types.js";

export interface JobCreateOptions {
  model: string; rounds: string; minContributors: string; maxContributors?: string; deadline: string; epochs: string;
  batchSize: string; lr: string; optimizer: string; strategy: string; strategyParam?: string[]; dpClip?: string; dpNoise?: string;
  encoding: string; reward: string; validation?: string; labelColumn?: string; gateToken?: string; gateMin?: string;
  encryptModel?: boolean; name?: string; minStake?: string; maxSamples?: string; normalize?: string; normalizeStats?: string;
}

function int(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`${flag} must be a positive integer, got "${v}".`);
  return Number(v);
}
function num(flag: string, v: string | undefined, min = 0, strict = true): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || (strict ? n <= min : n < min)) throw new UsageError(`${flag} must be a number ${strict ? ">" : "≥"} ${min}, got "${v}".`);
  return n;
}

/**
 * A token amount as users write it: whole tokens with up to 18 decimals ("100", "2.5"), the unit of
 * DatToken and of most ERC-20s, or exact base units with a `wei` suffix ("1000wei"). Returns base
 * units as a decimal string.
 */
export function parseTokenAmount(flag: string, value: string): string {
  const v = value.trim();
  const wei = /^(\d+)wei$/.exec(v);
  if (wei) return BigInt(wei[1]).toString();
  const m = /^(\d+)(?:\.(\d{1,18}))?$/.exec(v);
  if (!m) throw new UsageError(`${flag} must be a token amount such as 100, 2.5 or 1000wei, got "${value}".`, { code: "BAD_AMOUNT" });
  const fraction = (m[2] ?? "").padEnd(18, "0");
  return (BigInt(m[1]) * 10n ** 18n + BigInt(fraction)).toString();
}

/** Parses the flags into the orchestrator's job input (UsageError naming the bad flag). */
export async function parseJobCreateOptions(opts: JobCreateOptions): Promise<CreateJobInput> {
  const deadlineSeconds = parseDurationSeconds(opts.deadline);
  if (deadlineSeconds === null) throw new UsageError(`--deadline must be a duration such as 90s, 10m or 2h, got "${opts.deadline}".`);
  if (opts.optimizer !== "sgd" && opts.optimizer !== "adam") throw new UsageError(`--optimizer must be sgd or adam, got "${opts.optimizer}".`);
  const rewardPerRound = parseTokenAmount("--reward", opts.reward);
  const gateMin = opts.gateMin === undefined ? undefined : parseTokenAmount("--gate-min", opts.gateMin);
  if (opts.gateToken !== undefined && !/^0x[0-9a-fA-F]{40}$/.test(opts.gateToken)) throw new UsageError(`--gate-token must be a 0x address, got "${opts.gateToken}".`);
  if (opts.validation && !opts.labelColumn) throw new UsageError("--validation needs --label-column.");
  // `--strategy robust` is core's ROBUST_STRATEGY (Multi-Krum, fraction 0.3, momentum 0.7; README "Learning benchmark").
  const { parseStrategyParams, resolveStrategyChoice } = await import("../../../core/aggregate/index.js");
  const choice = resolveStrategyChoice(opts.strategy, parseStrategyParams(opts.strategyParam));
  return {
    name: opts.name,
    rounds: int("--rounds", opts.rounds)!,
    minContributors: int("--min-contributors", opts.minContributors)!,
    maxContributors: int("--max-contributors", opts.maxContributors),
    deadlineSeconds,
    hyper: { epochs: int("--epochs", opts.epochs)!, batchSize: int("--batch-size", opts.batchSize)!, lr: num("--lr", opts.lr)!, optimizer: opts.optimizer },
    strategy: choice.strategy,
    strategyParams: choice.params,
    dpClip: num("--dp-clip", opts.dpClip),
    dpNoise: num("--dp-noise", opts.dpNoise, 0, false),
    encoding: opts.encoding,
    rewardPerRound,
    validationPath: opts.validation ? path.resolve(opts.validation) : undefined,
    labelColumn: opts.labelColumn,
    gateToken: opts.gateToken?.toLowerCase() as `0x${string}` | undefined,
    gateMin,
    encryptModel: opts.encryptModel ? true : undefined,
    minStake: opts.minStake === undefined ? undefined : parseTokenAmount("--min-stake", opts.minStake),
    maxSamples: int("--max-samples", opts.maxSamples),
  };
}

export async function jobCreate(ctx: CliContext, opts: JobCreateOptions): Promise<void> {
  const input = await parseJobCreateOptions(opts);
  // Local files before any chain or orchestrator call: a typo must not cost a round trip.
  const { checkLocalPath } = await import("../../checks.js");
  checkLocalPath("--model", opts.model, "MODEL_NOT_FOUND");
  if (opts.validation) checkLocalPath("--validation", opts.validation);
  if (opts.normalizeStats !== undefined && opts.normalize === undefined) throw new UsageError("--normalize-stats needs --normalize minmax or zscore.");
  const { packModelDir, loadModelDir } = await import("../../../train/modelIo.js");
  const modelDir = path.resolve(opts.model);
  const model = await packModelDir(modelDir);
  // Check the model against the validation data and fix the job's preprocessing before anything is stored.
  const [{ resolveBackend }, { prepareJobPreprocess }] = await Promise.all([
    import("../../../train/backends.js"),
    import("../../../train/data/jobPreprocess.js"),
  ]);
  await resolveBackend("auto");
  const tfModel = await loadModelDir(modelDir);
  try {
    input.preprocess = await prepareJobPreprocess({
      model: tfModel,
      modelName: path.join(modelDir, "model.json"),
      normalize: opts.normalize,
      statsFile: opts.normalizeStats === undefined ? undefined : path.resolve(opts.normalizeStats),
      validation: input.validationPath && input.labelColumn ? { path: input.validationPath, labelColumn: input.labelColumn } : undefined,
    });
  } finally {
    tfModel.dispose();
  }
  const { openOrchestrator } = await import("../../orchestrator.js");
  // A minimum stake lives on the chain: connect (and unlock the operator's wallet) before creating
  // anything, so a missing chain fails the command instead of leaving a job nobody can join.
  const staking = input.minStake !== undefined ? await stakingWallet(ctx) : undefined;
  const orch = await openOrchestrator(ctx);
  try {
    const job = await orch.createJob(input, model);
    let minStakeTx: string[] | undefined;
    if (staking && input.minStake !== undefined) {
      const { setJobMinStake } = await import("../../../chain/staking.js");
      // Cooldown: the unstake must outlast any round the contributor took part in (deadline + publish time).
      const cooldown = Math.ceil(input.deadlineSeconds) + 3600;
      minStakeTx = (await setJobMinStake(staking.chain.publicClient, staking.chain.walletClient!, {
        staking: staking.address, jobId: job.id, amount: BigInt(input.minStake), cooldown,
      })).txHashes;
    }
    // job.gate.min is "0" for a public job (jobGate): the default without a stake, or --gate-min 0.
    const gate = job.gate.min === "0" ? null : { token: job.gate.token, min: job.gate.min };
    const note = gate !== null ? undefined : input.gateMin === undefined
      ? "public: no --min-stake, so anyone who registers gets the model; add --min-stake to gate it"
      : "public: --gate-min 0, so anyone may download the model and run inference";
    ctx.out.result({
      id: job.id, modelCid: job.modelCid, fingerprint: job.fingerprint, minStake: input.minStake ?? null, gate,
      ...(note ? { note } : {}), ...(minStakeTx ? { minStakeTx } : {}),
    }, (j) => [`${j.id}`]);
    ctx.out.success(`created job ${job.id} (model ${job.modelCid})`
      + (input.minStake !== undefined ? `, min stake ${input.minStake} base units on chain` : ", no stake required (trusted group)")
      + (gate === null ? "" : `, gated at ${gate.min === null ? "1 whole token" : `${gate.min} base units`} of ${gate.token ?? "the deployed DatToken"} (inference and downloads)`)
      + `; next: dat round start --job ${job.id}`);
    if (note && input.gateMin === undefined) ctx.out.warn(note);
  } finally {
    await orch.close();
  }
}

/** The configured chain with the operator's wallet and the Staking contract, for --min-stake. */
async function stakingWallet(ctx: CliContext) {
  const { loadConfig } = await import("../../../config/index.js");
  const { configOptions } = await import("../../context.js");
  const { unlockAccount } = await import("../../unlock.js");
  const { connectConfiguredChain } = await import("../../../chain/clients.js");
  const { stakingAddress } = await import("../../../chain/staking.js");
  const config = (await loadConfig(configOptions(ctx))).values;
  const account = await unlockAccount(ctx);
  const chain = await connectConfiguredChain(config, { account });
  return { chain, address: stakingAddress(chain.deployment, chain.chainId) };
}
