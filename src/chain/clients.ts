/**
 * viem clients for the configured chain, with the checks that turn a misconfiguration into a
 * clear error: the RPC is down or slow (NetworkError), the chain id is not the configured one,
 * no deployment is recorded, or there is no contract code at a recorded address.
 */
import {
  BaseError,
  ContractFunctionRevertedError,
  HttpRequestError,
  InsufficientFundsError,
  TimeoutError,
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  keccak256,
  toBytes,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import type { DatConfig, Deployment } from "../config/schema.js";
import { DatError, NetworkError, NotFoundError, OperationFailedError, UserError } from "../core/errors.js";

export type ChainWallet = WalletClient<Transport, Chain, Account>;

export interface ConnectChainOptions {
  rpcUrl: string;
  /** The chain id the caller expects; a different one is a UserError. */
  expectedChainId?: number;
  /** Per-request timeout; a slow RPC becomes a NetworkError. */
  timeoutMs?: number;
  account?: Account;
  /** A known chain (e.g. from viem/chains) for explorers and names; else one is defined from the id. */
  chain?: Chain;
}

export interface ChainConnection {
  chainId: number;
  chain: Chain;
  publicClient: PublicClient;
  walletClient?: ChainWallet;
}

/** Connect to an RPC, read its chain id and check it against the expected one. */
export async function connectChain(options: ConnectChainOptions): Promise<ChainConnection> {
  const transport = http(options.rpcUrl, { timeout: options.timeoutMs ?? 10_000, retryCount: 1, retryDelay: 100 });
  const probe = createPublicClient({ transport });
  let chainId: number;
  try {
    chainId = await probe.getChainId();
  } catch (error) {
    throw rpcDown(options.rpcUrl, error);
  }
  if (options.expectedChainId !== undefined && chainId !== options.expectedChainId) {
    throw new UserError(
      `The RPC at ${options.rpcUrl} serves chain ${chainId}, but chain ${options.expectedChainId} is configured.`,
      {
        code: "WRONG_CHAIN",
        hint: `Point chain.rpcUrl at a chain ${options.expectedChainId} node, or run: dat config set chain.chainId ${chainId}`,
        data: { rpcUrl: options.rpcUrl, chainId, expectedChainId: options.expectedChainId },
      },
    );
  }
  const chain =
    options.chain ??
    defineChain({
      id: chainId,
      name: `chain ${chainId}`,
      nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
      rpcUrls: { default: { http: [options.rpcUrl] } },
    });
  const publicClient = createPublicClient({ chain, transport }) as PublicClient;
  const walletClient = options.account
    ? (createWalletClient({ chain, transport, account: options.account }) as ChainWallet)
    : undefined;
  return { chainId, chain, publicClient, walletClient };
}

export interface ConfiguredChain extends ChainConnection {
  deployment: Deployment;
}

/**
 * Connect to `chain.rpcUrl` from the config, check the chain id against `chain.chainId` (when set),
 * find the deployment recorded for that chain and check that its contracts exist.
 */
export async function connectConfiguredChain(
  config: DatConfig,
  options: { account?: Account; timeoutMs?: number; rpcUrl?: string } = {},
): Promise<ConfiguredChain> {
  const rpcUrl = options.rpcUrl ?? config.chain.rpcUrl;
  const connection = await connectChain({
    rpcUrl,
    expectedChainId: config.chain.chainId,
    account: options.account,
    timeoutMs: options.timeoutMs,
  });
  const deployment = findDeployment(config, connection.chainId);
  await assertContractCode(connection.publicClient, deployment.distributor as Address, "RewardDistributor");
  await assertContractCode(connection.publicClient, deployment.token as Address, "DatToken");
  return { ...connection, deployment };
}

/** The deployment recorded for a chain id, or a NotFoundError saying how to make one. */
export function findDeployment(config: DatConfig, chainId: number): Deployment {
  const deployment = config.chain.deployments[String(chainId)];
  if (!deployment) {
    throw new NotFoundError(`No dat contracts are recorded for chain ${chainId}.`, {
      code: "NO_DEPLOYMENT",
      hint: "Start a local chain with `dat devnet`, or deploy with `dat chain deploy --rpc-url <url>`.",
      data: { chainId },
    });
  }
  return deployment;
}

/** Fail with a NotFoundError when `address` holds no contract code on the connected chain. */
export async function assertContractCode(publicClient: PublicClient, address: Address, name: string): Promise<void> {
  let code: Hex | undefined;
  try {
    code = await publicClient.getCode({ address });
  } catch (error) {
    throw toChainError(error, `read the code of ${name}`);
  }
  if (!code || code === "0x") {
    throw new NotFoundError(`No contract code at ${address} (${name}) on this chain.`, {
      code: "NO_CONTRACT",
      hint: "The chain was probably restarted or the config points at another chain: run `dat devnet` again or `dat chain deploy`.",
      data: { address, contract: name },
    });
  }
}

/** The `reason` of a REVERTED error whose revert data the node did not return. */
export const UNKNOWN_REASON = "unknown reason";

/**
 * Node messages for a sender that cannot pay for gas that viem does not map to
 * InsufficientFundsError (Hardhat's among them).
 */
const OUT_OF_FUNDS = /insufficient funds|doesn't have enough funds|exceeds transaction sender account balance/i;

function detailsOf(error: unknown): string {
  if (error instanceof BaseError) return error.details ?? "";
  return error instanceof Error ? error.message : "";
}

function rpcDown(rpcUrl: string, error: unknown): NetworkError {
  const detail = error instanceof BaseError ? error.shortMessage : (error as Error)?.message;
  return new NetworkError(`The chain RPC at ${rpcUrl} did not answer: ${detail}`, {
    code: "RPC_UNREACHABLE",
    hint: "Start a local chain with `dat devnet`, or set chain.rpcUrl (or --rpc-url) to a reachable node.",
    data: { rpcUrl },
    cause: error,
  });
}

/**
 * Translate a viem error into dat's errors: a revert becomes an OperationFailedError naming the
 * custom error and its arguments (and the tx hash when known), an unreachable or slow RPC a
 * NetworkError, missing gas money a UserError. DatErrors pass through.
 */
export function toChainError(error: unknown, what: string, txHash?: Hex): DatError {
  if (error instanceof DatError) return error;
  const data: Record<string, unknown> = txHash ? { txHash } : {};
  if (error instanceof BaseError) {
    const revert = error.walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null;
    if (revert) {
      const reason = revert.data?.errorName ?? revert.reason ?? UNKNOWN_REASON;
      const args = revert.data?.args?.map((a) => String(a)) ?? [];
      return new OperationFailedError(
        `Could not ${what}: the contract reverted with ${reason}${args.length ? `(${args.join(", ")})` : ""}${txHash ? ` (tx ${txHash})` : ""}.`,
        { code: "REVERTED", data: { ...data, reason, args }, cause: error },
      );
    }
    if (error.walk((e) => e instanceof InsufficientFundsError || OUT_OF_FUNDS.test(detailsOf(e)))) {
      return new UserError(`Could not ${what}: the account has not enough ETH to pay for gas${txHash ? ` (tx ${txHash})` : ""}.`, {
        code: "INSUFFICIENT_FUNDS",
        hint: "Send the chain's native currency to the sending address (on `dat devnet`: dat devnet fund --address <it>).",
        data,
        cause: error,
      });
    }
    if (error.walk((e) => e instanceof HttpRequestError || e instanceof TimeoutError)) {
      return new NetworkError(`Could not ${what}: the chain RPC failed: ${error.shortMessage}`, {
        code: "RPC_UNREACHABLE",
        hint: "Check that the node at chain.rpcUrl is running (`dat devnet`).",
        data,
        cause: error,
      });
    }
    return new OperationFailedError(`Could not ${what}: ${error.shortMessage}`, { code: "CHAIN_FAILED", data, cause: error });
  }
  return new OperationFailedError(`Could not ${what}: ${(error as Error)?.message ?? String(error)}`, {
    code: "CHAIN_FAILED",
    data,
    cause: error,
  });
}

/**
 * Wait for a transaction's receipt and fail with an OperationFailedError (TX_REVERTED, with the
 * hash) when it reverted.
 */
export async function mined(publicClient: PublicClient, hash: Hex, what: string, timeoutMs?: number) {
  const receipt = await publicClient.waitForTransactionReceipt({ hash, timeout: timeoutMs });
  if (receipt.status !== "success") {
    throw new OperationFailedError(`The transaction to ${what} reverted (${hash}).`, { code: "TX_REVERTED", data: { txHash: hash } });
  }
  return receipt;
}

/**
 * The on-chain job id: a decimal job id is used as is; any other id is hashed (keccak256 of its
 * UTF-8 bytes) so every job id maps to one uint256.
 */
export function chainJobId(jobId: string | number | bigint): bigint {
  const text = String(jobId);
  if (/^\d+$/.test(text)) return BigInt(text);
  return BigInt(keccak256(toBytes(text)));
}
