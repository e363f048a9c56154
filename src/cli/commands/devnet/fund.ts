import { formatEther, formatUnits, isAddress, parseUnits, type Address } from "viem";
import { configOptions, type CliContext } from "../../context.js";
import { UsageError } from "../../../core/errors.js";
import { loadConfig } from "../../../config/index.js";
import { unlockAccount } from "../../unlock.js";
import { connectChain } from "../../../chain/clients.js";
import { devnetToken, fundOnDevnet } from "../../../chain/fund.js";

/** Parse a non-negative decimal amount of an 18-decimals unit (ETH or DAT) into base units. */
export function parseAmountOption(flag: string, value: string): bigint {
  const text = value.trim();
  if (!/^\d{1,30}(\.\d{1,18})?$/.test(text)) {
    throw new UsageError(`${flag} must be a non-negative decimal amount (at most 18 decimals), got "${value}".`, { code: "BAD_AMOUNT" });
  }
  return parseUnits(text, 18);
}

export async function devnetFund(ctx: CliContext, opts: { address: string; eth: string; tokens: string }): Promise<void> {
  if (!isAddress(opts.address, { strict: false })) {
    throw new UsageError(`--address must be a 0x-prefixed 20-byte address, got "${opts.address}".`, { code: "BAD_ADDRESS" });
  }
  const address = opts.address as Address;
  const eth = parseAmountOption("--eth", opts.eth);
  const tokens = parseAmountOption("--tokens", opts.tokens);
  const config = await loadConfig(configOptions(ctx));
  const rpcUrl = config.values.chain.rpcUrl;
  let minting: { token: Address; minter: Awaited<ReturnType<typeof unlockAccount>> } | undefined;
  if (tokens > 0n) {
    // The token is the one recorded for the chain the RPC serves, so read its id first.
    const { chainId } = await connectChain({ rpcUrl });
    minting = { token: devnetToken(config.values, chainId), minter: await unlockAccount(ctx) };
  }
  const result = await fundOnDevnet({ rpcUrl, address, eth, tokens, token: minting?.token, minter: minting?.minter });
  ctx.out.result(result, (r) => [
    `Set the balance of ${r.address} to ${formatEther(r.eth)} ETH on chain ${r.chainId}.`,
    ...(r.mintTxHash ? [`Minted ${formatUnits(r.tokens, 18)} DAT (tx ${r.mintTxHash}); DAT balance ${formatUnits(r.tokenBalance ?? 0n, 18)}.`] : []),
  ]);
}
