/**
 * Stakes per job on the Staking contract: stake, two-step unstake (request, then withdraw after the
 * job's cooldown), the job's minimum, the stake history at a past block (for "the stake met the
 * minimum when the round opened"), and the Slashed events a publication leaves.
 * Every write is simulated first, so a revert is reported with its decoded reason before any gas
 * is spent.
 */
import { getAddress, type Address, type Hex, type PublicClient } from "viem";
import { DatToken, Staking } from "./artifacts/index.js";
import { chainJobId, mined, toChainError, type ChainWallet } from "./clients.js";
import { DEFAULT_LOG_BLOCK_RANGE, blockWindows } from "./rewards.js";
import { NotFoundError, UserError } from "../core/errors.js";

type JobId = string | number | bigint;

export interface StakingJob {
  minStake: bigint;
  /** Seconds between requestUnstake and the earliest withdraw. */
  cooldown: number;
  /** False until the operator set the job's minimum (`dat job create --min-stake`). */
  exists: boolean;
}

export interface StakeInfo {
  /** The counted stake now. */
  stake: bigint;
  /** Stake waiting for its cooldown (no longer counted, still slashable). */
  pending: bigint;
  /** Unix seconds from which `pending` can be withdrawn (0 when nothing is pending). */
  unlockAt: number;
}

export interface SlashEvent {
  jobId: string;
  round: number;
  account: Address;
  amount: bigint;
  blockNumber: number;
  txHash: Hex;
}

function positive(amount: bigint, what: string): void {
  if (amount <= 0n) throw new UserError(`The amount to ${what} must be positive, got ${amount}.`, { code: "BAD_AMOUNT" });
}

async function write(publicClient: PublicClient, what: string, send: () => Promise<Hex>): Promise<{ txHash: Hex; blockNumber: bigint }> {
  let hash: Hex;
  try {
    hash = await send();
  } catch (error) {
    throw toChainError(error, what);
  }
  try {
    const receipt = await mined(publicClient, hash, what, 60_000);
    return { txHash: hash, blockNumber: receipt.blockNumber };
  } catch (error) {
    throw toChainError(error, `confirm the transaction to ${what}`, hash);
  }
}

async function read<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toChainError(error, what);
  }
}

/** A job's staking rules (minimum, cooldown, whether the operator set them). */
export async function getJobMinStake(publicClient: PublicClient, options: { staking: Address; jobId: JobId }): Promise<StakingJob> {
  const [minStake, cooldown, exists] = await read(`read the staking rules of job ${options.jobId}`, () =>
    publicClient.readContract({ address: options.staking, abi: Staking.abi, functionName: "getJob", args: [chainJobId(options.jobId)] }));
  return { minStake, cooldown: Number(cooldown), exists };
}

/**
 * The chain's latest block and the job's staking rules read in that very block (one consistent
 * view: what a round opening now is judged against). Throws a NotFoundError (STAKING_JOB_UNKNOWN)
 * when the operator never set the job's minimum on this chain.
 */
export async function jobRulesAt(
  publicClient: PublicClient,
  options: { staking: Address; jobId: JobId },
): Promise<StakingJob & { blockNumber: bigint }> {
  const blockNumber = await read("read the latest block", () => publicClient.getBlockNumber({ cacheTime: 0 }));
  const [minStake, cooldown, exists] = await read(`read the staking rules of job ${options.jobId} at block ${blockNumber}`, () =>
    publicClient.readContract({ address: options.staking, abi: Staking.abi, functionName: "getJob", args: [chainJobId(options.jobId)], blockNumber }));
  if (!exists) throw unknownStakingJob(options.jobId, options.staking);
  return { minStake, cooldown: Number(cooldown), exists, blockNumber };
}

function unknownStakingJob(jobId: JobId, staking: Address): NotFoundError {
  return new NotFoundError(`Job ${jobId} has no staking rules on the Staking contract ${staking}.`, {
    code: "STAKING_JOB_UNKNOWN",
    hint: `Set its minimum first: dat job create … --min-stake <amount> (or setJobMinStake).`,
    data: { jobId: String(jobId), staking },
  });
}

/**
 * Set a job's minimum stake (and, when given, its unstaking cooldown in seconds) from the owner's
 * wallet. The rule for the cooldown: at least the longest a round of the job can last plus the time
 * to publish it (see Staking.sol).
 */
export async function setJobMinStake(
  publicClient: PublicClient,
  walletClient: ChainWallet,
  options: { staking: Address; jobId: JobId; amount: bigint; cooldown?: number },
): Promise<{ txHashes: Hex[] }> {
  if (options.amount < 0n) throw new UserError(`The minimum stake must not be negative, got ${options.amount}.`, { code: "BAD_AMOUNT" });
  if (options.cooldown !== undefined && (!Number.isSafeInteger(options.cooldown) || options.cooldown < 0)) {
    throw new UserError(`The cooldown must be a non-negative number of seconds, got ${options.cooldown}.`, { code: "BAD_COOLDOWN" });
  }
  const jobId = chainJobId(options.jobId);
  const account = walletClient.account;
  const txHashes: Hex[] = [];
  txHashes.push((await write(publicClient, `set the minimum stake of job ${options.jobId}`, async () => walletClient.writeContract(
    (await publicClient.simulateContract({ address: options.staking, abi: Staking.abi, functionName: "setJobMinStake", args: [jobId, options.amount], account })).request,
  ))).txHash);
  if (options.cooldown !== undefined) {
    txHashes.push((await write(publicClient, `set the unstaking cooldown of job ${options.jobId}`, async () => walletClient.writeContract(
      (await publicClient.simulateContract({ address: options.staking, abi: Staking.abi, functionName: "setJobCooldown", args: [jobId, BigInt(options.cooldown!)], account })).request,
    ))).txHash);
  }
  return { txHashes };
}

/** An address's counted stake, pending stake and unlock time in a job. */
export async function getStake(publicClient: PublicClient, options: { staking: Address; jobId: JobId; account: Address }): Promise<StakeInfo> {
  const jobId = chainJobId(options.jobId);
  const [stake, [pending, unlockAt]] = await read(`read the stake of ${options.account}`, () => Promise.all([
    publicClient.readContract({ address: options.staking, abi: Staking.abi, functionName: "stakeOf", args: [jobId, options.account] }),
    publicClient.readContract({ address: options.staking, abi: Staking.abi, functionName: "pendingOf", args: [jobId, options.account] }),
  ]));
  return { stake, pending, unlockAt: Number(unlockAt) };
}

/** An address's counted stake in a job at the end of block `blockNumber` (past or current). */
export async function stakeAt(
  publicClient: PublicClient,
  options: { staking: Address; jobId: JobId; account: Address; blockNumber: bigint | number },
): Promise<bigint> {
  return read(`read the stake of ${options.account} at block ${options.blockNumber}`, () => publicClient.readContract({
    address: options.staking, abi: Staking.abi, functionName: "stakeAt",
    args: [chainJobId(options.jobId), options.account, BigInt(options.blockNumber)],
  }));
}

export interface EligibleStakersResult {
  /** The addresses whose stake at `blockNumber` was at least the job's minimum, in input order. */
  eligible: Address[];
  /** Every address's stake at `blockNumber`, keyed by checksummed address. */
  stakes: Map<Address, bigint>;
  minStake: bigint;
}

/**
 * Which of `addresses` had staked at least the job's minimum at block `blockNumber` (the block at
 * which the round opened), in one call. Throws a NotFoundError (STAKING_JOB_UNKNOWN) when the
 * operator never set the job's minimum on this chain.
 */
export async function eligibleStakers(
  publicClient: PublicClient,
  options: { staking: Address; jobId: JobId; addresses: readonly Address[]; blockNumber: bigint | number },
): Promise<EligibleStakersResult> {
  const job = await getJobMinStake(publicClient, options);
  if (!job.exists) throw unknownStakingJob(options.jobId, options.staking);
  const accounts = options.addresses.map((a) => getAddress(a));
  const values = accounts.length === 0 ? [] : await read(`read stakes at block ${options.blockNumber}`, () => publicClient.readContract({
    address: options.staking, abi: Staking.abi, functionName: "stakesAt",
    args: [chainJobId(options.jobId), accounts, BigInt(options.blockNumber)],
  }));
  const stakes = new Map<Address, bigint>(accounts.map((a, i) => [a, values[i]]));
  return { eligible: accounts.filter((a) => stakes.get(a)! >= job.minStake), stakes, minStake: job.minStake };
}

/**
 * Stake `amount` DAT base units in a job from the wallet: approves the Staking contract for what
 * the allowance lacks, then stakes. Refuses a job without staking rules and a balance too small,
 * before sending anything.
 */
export async function stakeForJob(
  publicClient: PublicClient,
  walletClient: ChainWallet,
  options: { staking: Address; jobId: JobId; amount: bigint },
): Promise<{ txHash: Hex; approveTxHash: Hex | null; stake: bigint }> {
  positive(options.amount, "stake");
  const { staking, amount } = options;
  const account = walletClient.account;
  const job = await getJobMinStake(publicClient, options);
  if (!job.exists) {
    throw new NotFoundError(`Job ${options.jobId} takes no stakes: its operator set no minimum on this chain.`, {
      code: "STAKING_JOB_UNKNOWN", hint: "Check the job id (dat job list), or ask the operator to set the job's --min-stake.",
      data: { jobId: String(options.jobId) },
    });
  }
  const token = await read("read the staking token", () => publicClient.readContract({ address: staking, abi: Staking.abi, functionName: "token" }));
  const [balance, allowance] = await read("read the DAT balance", () => Promise.all([
    publicClient.readContract({ address: token, abi: DatToken.abi, functionName: "balanceOf", args: [account.address] }),
    publicClient.readContract({ address: token, abi: DatToken.abi, functionName: "allowance", args: [account.address, staking] }),
  ]));
  if (balance < amount) {
    throw new UserError(`${account.address} holds ${balance} DAT base units; staking needs ${amount}.`, {
      code: "INSUFFICIENT_TOKENS", hint: "Get DAT first (on a devnet: dat devnet fund --address <it> --tokens <n>).",
      data: { balance: balance.toString(), required: amount.toString() },
    });
  }
  let approveTxHash: Hex | null = null;
  if (allowance < amount) {
    approveTxHash = (await write(publicClient, "approve the Staking contract", async () => walletClient.writeContract(
      (await publicClient.simulateContract({ address: token, abi: DatToken.abi, functionName: "approve", args: [staking, amount], account })).request,
    ))).txHash;
  }
  const { txHash } = await write(publicClient, `stake in job ${options.jobId}`, async () => walletClient.writeContract(
    (await publicClient.simulateContract({ address: staking, abi: Staking.abi, functionName: "stake", args: [chainJobId(options.jobId), amount], account })).request,
  ));
  const { stake } = await getStake(publicClient, { staking, jobId: options.jobId, account: account.address });
  return { txHash, approveTxHash, stake };
}

/** Stop the wallet's whole stake in a job counting now; it can be withdrawn at `unlockAt` (unix seconds). */
export async function requestUnstake(
  publicClient: PublicClient,
  walletClient: ChainWallet,
  options: { staking: Address; jobId: JobId },
): Promise<{ txHash: Hex; amount: bigint; pending: bigint; unlockAt: number }> {
  const account = walletClient.account;
  const before = await getStake(publicClient, { ...options, account: account.address });
  if (before.stake === 0n) {
    throw new UserError(`${account.address} has no counted stake in job ${options.jobId} to unstake.`, {
      code: "NOTHING_STAKED",
      hint: before.pending > 0n ? "Its stake is already pending: dat node unstake --job <id> --withdraw once the cooldown is over." : "Stake first: dat node stake --job <id> --amount <n>.",
      data: { pending: before.pending.toString(), unlockAt: before.unlockAt },
    });
  }
  const { txHash } = await write(publicClient, `request unstaking in job ${options.jobId}`, async () => walletClient.writeContract(
    (await publicClient.simulateContract({ address: options.staking, abi: Staking.abi, functionName: "requestUnstake", args: [chainJobId(options.jobId)], account })).request,
  ));
  const after = await getStake(publicClient, { ...options, account: account.address });
  return { txHash, amount: before.stake, pending: after.pending, unlockAt: after.unlockAt };
}

/**
 * Withdraw the wallet's pending stake of a job. Before the cooldown ends it throws a UserError
 * (COOLDOWN_NOT_OVER) saying how long is left, measured against the latest block's timestamp.
 */
export async function withdrawStake(
  publicClient: PublicClient,
  walletClient: ChainWallet,
  options: { staking: Address; jobId: JobId },
): Promise<{ txHash: Hex; amount: bigint }> {
  const account = walletClient.account;
  const { pending, unlockAt } = await getStake(publicClient, { ...options, account: account.address });
  if (pending === 0n) {
    throw new UserError(`${account.address} has no pending stake in job ${options.jobId} to withdraw.`, {
      code: "NOTHING_PENDING", hint: "Request it first: dat node unstake --job <id>.",
    });
  }
  const block = await read("read the latest block", () => publicClient.getBlock({ blockTag: "latest" }));
  // The withdrawing transaction lands in a later block, whose timestamp is at least one more.
  const remaining = unlockAt - Number(block.timestamp) - 1;
  if (remaining > 0) {
    throw new UserError(`The unstaking cooldown of job ${options.jobId} ends in ${formatDuration(remaining)} (at ${new Date(unlockAt * 1000).toISOString()}).`, {
      code: "COOLDOWN_NOT_OVER", hint: "Run `dat node unstake --job <id> --withdraw` again after that.",
      data: { unlockAt, remainingSeconds: remaining, pending: pending.toString() },
    });
  }
  const { txHash } = await write(publicClient, `withdraw the stake of job ${options.jobId}`, async () => walletClient.writeContract(
    (await publicClient.simulateContract({ address: options.staking, abi: Staking.abi, functionName: "withdraw", args: [chainJobId(options.jobId)], account })).request,
  ));
  return { txHash, amount: pending };
}

/** "1 h 2 min 5 s" style durations for cooldown messages. */
export function formatDuration(seconds: number): string {
  const parts: string[] = [];
  const units: [number, string][] = [[86_400, "d"], [3_600, "h"], [60, "min"], [1, "s"]];
  let left = Math.max(0, Math.ceil(seconds));
  for (const [size, unit] of units) {
    if (left >= size || (unit === "s" && parts.length === 0)) {
      parts.push(`${Math.floor(left / size)} ${unit}`);
      left %= size;
    }
  }
  return parts.join(" ");
}

/** The Slashed events (of one job and round when given), in block order, read in bounded windows. */
export async function readSlashes(
  publicClient: PublicClient,
  options: { staking: Address; fromBlock: number; toBlock?: number; jobId?: JobId; round?: number; blockRange?: number },
): Promise<SlashEvent[]> {
  return read("read the Slashed events", async () => {
    const toBlock = options.toBlock === undefined ? await publicClient.getBlockNumber({ cacheTime: 0 }) : BigInt(options.toBlock);
    const events: SlashEvent[] = [];
    const args = {
      ...(options.jobId === undefined ? {} : { jobId: chainJobId(options.jobId) }),
      ...(options.round === undefined ? {} : { round: BigInt(options.round) }),
    };
    for (const window of blockWindows(BigInt(options.fromBlock), toBlock, BigInt(options.blockRange ?? DEFAULT_LOG_BLOCK_RANGE))) {
      const logs = await publicClient.getContractEvents({
        address: options.staking, abi: Staking.abi, eventName: "Slashed", args, fromBlock: window.fromBlock, toBlock: window.toBlock, strict: true,
      });
      events.push(...logs.map((log) => ({
        jobId: log.args.jobId.toString(), round: Number(log.args.round), account: getAddress(log.args.account), amount: log.args.amount,
        blockNumber: Number(log.blockNumber), txHash: log.transactionHash,
      })));
    }
    return events;
  });
}

/** The Staking contract of a recorded deployment, or a NotFoundError for deployments made before staking. */
export function stakingAddress(deployment: { staking?: string }, chainId: number): Address {
  if (!deployment.staking) {
    throw new NotFoundError(`The dat contracts recorded for chain ${chainId} have no Staking contract.`, {
      code: "NO_STAKING",
      hint: "They were deployed before staking existed: deploy again (`dat chain deploy`, or restart `dat devnet`) and share the new addresses.",
      data: { chainId },
    });
  }
  return getAddress(deployment.staking);
}
