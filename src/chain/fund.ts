/**
 * `dat devnet fund` as a service: give an address ETH (hardhat_setBalance) and, optionally, DAT
 * (a mint by the token's owner) on a running local devnet. It refuses any chain that is not a
 * Hardhat devnet, so a mistyped rpcUrl can never be used to "fund" anything on a real chain.
 */
import type { Account, Address, Hex } from "viem";
import { DatToken } from "./artifacts/index.js";
import { connectChain, mined, toChainError } from "./clients.js";
import { DeniedError, NotFoundError, UserError } from "../core/errors.js";
import type { DatConfig } from "../config/schema.js";

/** Hardhat's default chain id; a node with this id or a Hardhat client version counts as a devnet. */
export const DEVNET_CHAIN_ID = 31337;

export interface FundOptions {
  rpcUrl: string;
  address: Address;
  /** The ETH balance to set, in wei (a set, not an addition). */
  eth: bigint;
  /** DAT to mint to the address, in base units; 0 mints nothing. */
  tokens: bigint;
  /** The token to mint; required when tokens > 0. */
  token?: Address;
  /** The minting account (the token's owner); required when tokens > 0. */
  minter?: Account;
  timeoutMs?: number;
}

export interface FundResult {
  address: Address;
  chainId: number;
  clientVersion: string;
  eth: bigint;
  tokens: bigint;
  tokenBalance: bigint | null;
  mintTxHash: Hex | null;
}

/** Is the node a Hardhat devnet? (its client version names HardhatNetwork, or its chain id is 31337) */
export function isDevnet(clientVersion: string, chainId: number): boolean {
  return /hardhatnetwork/i.test(clientVersion) || chainId === DEVNET_CHAIN_ID;
}

/** The token recorded for the chain in the config, or a NotFoundError when none is. */
export function devnetToken(config: DatConfig, chainId: number): Address {
  const deployment = config.chain.deployments[String(chainId)];
  if (!deployment) {
    throw new NotFoundError(`No dat contracts are recorded for chain ${chainId}, so there is no token to mint.`, {
      code: "NO_DEPLOYMENT",
      hint: "Start the devnet with `dat devnet` in this home, or fund ETH only (--tokens 0).",
      data: { chainId },
    });
  }
  return deployment.token as Address;
}

/**
 * Set `address`'s ETH balance and mint it `tokens` DAT on a Hardhat devnet. Throws a UserError
 * (NOT_A_DEVNET) for any other chain, a DeniedError when the minter does not own the token, and
 * the usual chain errors (with the tx hash when there is one) otherwise.
 */
export async function fundOnDevnet(options: FundOptions): Promise<FundResult> {
  if (options.eth < 0n || options.tokens < 0n) {
    throw new UserError("Amounts to fund must not be negative.", { code: "BAD_AMOUNT" });
  }
  // The minter's wallet client costs no request: one connection serves the checks and the mint.
  const { chainId, publicClient, walletClient } = await connectChain({
    rpcUrl: options.rpcUrl, account: options.minter, timeoutMs: options.timeoutMs,
  });
  let clientVersion = "";
  try {
    clientVersion = await publicClient.request({ method: "web3_clientVersion" });
  } catch {
    // Some nodes do not serve web3_clientVersion; the chain id alone then decides.
  }
  if (!isDevnet(clientVersion, chainId)) {
    throw new UserError(`The RPC at ${options.rpcUrl} is not a Hardhat devnet (chain ${chainId}, client "${clientVersion}").`, {
      code: "NOT_A_DEVNET",
      hint: "`dat devnet fund` only works against `dat devnet`; on a real chain, send ETH and DAT from a funded wallet.",
      data: { rpcUrl: options.rpcUrl, chainId, clientVersion },
    });
  }

  try {
    // hardhat_setBalance is not in viem's public schema; the cast is the one place it is named.
    const request = publicClient.request as (args: { method: string; params: unknown[] }) => Promise<unknown>;
    await request({ method: "hardhat_setBalance", params: [options.address, `0x${options.eth.toString(16)}`] });
  } catch (error) {
    throw toChainError(error, `set the ETH balance of ${options.address}`);
  }

  let mintTxHash: Hex | null = null;
  let tokenBalance: bigint | null = null;
  if (options.tokens > 0n) {
    const { token, minter } = options;
    if (!token || !minter) {
      throw new UserError("Minting DAT needs the token address and the owner's wallet.", { code: "NO_MINTER" });
    }
    let owner: Address;
    try {
      owner = await publicClient.readContract({ address: token, abi: DatToken.abi, functionName: "owner" });
    } catch (error) {
      throw toChainError(error, `read the owner of the token ${token}`);
    }
    if (owner.toLowerCase() !== minter.address.toLowerCase()) {
      throw new DeniedError(`The wallet ${minter.address} does not own the DAT token ${token} (its owner is ${owner}).`, {
        code: "NOT_TOKEN_OWNER",
        hint: "Run `dat devnet fund` with the --home whose wallet started `dat devnet`, or fund ETH only (--tokens 0).",
        data: { token, owner, minter: minter.address },
      });
    }
    try {
      const { request } = await publicClient.simulateContract({
        address: token, abi: DatToken.abi, functionName: "mint", args: [options.address, options.tokens], account: minter,
      });
      mintTxHash = await walletClient!.writeContract(request);
    } catch (error) {
      throw toChainError(error, `mint DAT to ${options.address}`);
    }
    try {
      await mined(publicClient, mintTxHash, `mint DAT to ${options.address}`, 60_000);
    } catch (error) {
      throw toChainError(error, `confirm the mint to ${options.address}`, mintTxHash);
    }
    tokenBalance = await publicClient.readContract({ address: token, abi: DatToken.abi, functionName: "balanceOf", args: [options.address] });
  }
  return { address: options.address, chainId, clientVersion, eth: options.eth, tokens: options.tokens, tokenBalance, mintTxHash };
}
