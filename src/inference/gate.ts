/**
 * The token gate: an address may use a job's model when its balance of the job's ERC-20 is at
 * least the job's threshold. Balances are read with viem and cached briefly, so a busy server
 * asks the chain once per address per cache period, not once per request.
 */
import { erc20Abi, formatUnits, getAddress, type Address, type PublicClient } from "viem";
import { DeniedError, NetworkError, NotFoundError } from "../core/errors.js";

/** A job's gate: the ERC-20 and the minimum balance in the token's base units. */
export interface GateSpec {
  token: Address;
  min: bigint;
}

export interface TokenInfo {
  decimals: number;
  symbol: string;
}

export interface BalanceReader {
  balanceOf(token: Address, holder: Address): Promise<bigint>;
  tokenInfo(token: Address): Promise<TokenInfo>;
  /** Drop cached balances (tests, or after a known transfer). */
  clear(): void;
}

export interface BalanceReaderOptions {
  /** How long a balance is trusted; 0 reads the chain every time. */
  cacheSeconds: number;
  /** Milliseconds clock (tests). */
  now?: () => number;
}

type ReadClient = Pick<PublicClient, "readContract">;

/**
 * A balance reader over `client` with a time-bounded cache. Concurrent reads of the same balance
 * share one RPC call; a failed read is not cached.
 */
export function createBalanceReader(client: ReadClient, options: BalanceReaderOptions): BalanceReader {
  const now = options.now ?? Date.now;
  const ttlMs = Math.max(0, options.cacheSeconds) * 1000;
  const balances = new Map<string, { value: Promise<bigint>; expiresAt: number }>();
  const infos = new Map<string, Promise<TokenInfo>>();

  const read = async <T>(token: Address, what: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (error) {
      throw chainReadError(error, token, what);
    }
  };

  return {
    balanceOf(token, holder) {
      const key = `${token.toLowerCase()}:${holder.toLowerCase()}`;
      const t = now();
      const hit = balances.get(key);
      if (hit && hit.expiresAt > t) return hit.value;
      const value = read(token, "balanceOf", () =>
        client.readContract({ address: token, abi: erc20Abi, functionName: "balanceOf", args: [holder] }),
      );
      balances.set(key, { value, expiresAt: t + ttlMs });
      value.catch(() => balances.delete(key));
      // Keep the map from growing without bound on a server that sees many addresses.
      if (balances.size > 10_000) for (const [k, v] of balances) if (v.expiresAt <= t) balances.delete(k);
      return value;
    },
    tokenInfo(token) {
      const key = token.toLowerCase();
      let info = infos.get(key);
      if (!info) {
        info = (async () => {
          const decimals = await read(token, "decimals", () => client.readContract({ address: token, abi: erc20Abi, functionName: "decimals" }));
          // symbol() is optional in ERC-20: fall back to the address.
          const symbol = await client
            .readContract({ address: token, abi: erc20Abi, functionName: "symbol" })
            .catch(() => shortAddress(token));
          return { decimals: Number(decimals), symbol };
        })();
        infos.set(key, info);
        info.catch(() => infos.delete(key));
      }
      return info;
    },
    clear() {
      balances.clear();
    },
  };
}

export interface GateResult {
  address: Address;
  token: Address;
  symbol: string;
  decimals: number;
  held: bigint;
  required: bigint;
}

/**
 * Check that `holder` holds at least `gate.min` of `gate.token`. Returns the figures, or throws
 * DeniedError (code GATE_INSUFFICIENT_BALANCE, exit 5) whose message and data carry the address,
 * the token, the balance held and the balance required, formatted and raw.
 */
export async function checkGate(reader: BalanceReader, gate: GateSpec, holder: Address, jobId?: string): Promise<GateResult> {
  const token = getAddress(gate.token);
  const address = getAddress(holder);
  const [held, info] = await Promise.all([reader.balanceOf(token, address), reader.tokenInfo(token)]);
  const result: GateResult = { address, token, symbol: info.symbol, decimals: info.decimals, held, required: gate.min };
  if (held >= gate.min) return result;
  const fmt = (v: bigint) => `${formatUnits(v, info.decimals)} ${info.symbol}`;
  throw new DeniedError(
    `Address ${address} holds ${fmt(held)} of token ${token}; ${jobId ? `job ${jobId}` : "this model"} requires at least ${fmt(gate.min)}.`,
    {
      code: "GATE_INSUFFICIENT_BALANCE",
      details: [
        `held:     ${fmt(held)} (${held} base units)`,
        `required: ${fmt(gate.min)} (${gate.min} base units)`,
      ],
      data: {
        address,
        token,
        symbol: info.symbol,
        decimals: info.decimals,
        held: held.toString(),
        required: gate.min.toString(),
        heldFormatted: formatUnits(held, info.decimals),
        requiredFormatted: formatUnits(gate.min, info.decimals),
        ...(jobId ? { jobId } : {}),
      },
      hint: `Acquire at least ${formatUnits(gate.min - held, info.decimals)} more ${info.symbol} on this address, then retry.`,
    },
  );
}

function shortAddress(a: Address): string {
  return `${a.slice(0, 6)}…${a.slice(-4)}`;
}

function chainReadError(error: unknown, token: Address, what: string): Error {
  const name = (error as { name?: string })?.name ?? "";
  const text = error instanceof Error ? error.message : String(error);
  if (/ZeroData|returned no data|reverted/i.test(name + " " + text)) {
    return new NotFoundError(`No ERC-20 token answers ${what}() at ${token} on the configured chain.`, {
      code: "GATE_TOKEN_NOT_FOUND",
      cause: error,
      hint: "Check the job's gate token and the chain the server is configured for (chain.rpcUrl).",
    });
  }
  return new NetworkError(`Could not read ${what}() of token ${token}: ${(error as { shortMessage?: string })?.shortMessage ?? text.split("\n")[0]}`, {
    code: "GATE_RPC_UNREACHABLE",
    cause: error,
    hint: "Check that the chain RPC is reachable (chain.rpcUrl) and retry.",
  });
}
