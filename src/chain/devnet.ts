/**
 * A local EVM chain: Hardhat Network (EDR) running in this process behind a real JSON-RPC
 * server on 127.0.0.1, the same server `npx hardhat node` starts, built from hardhat's own
 * exported pieces with a config object made in code (no hardhat.config file needed).
 *
 * Keeping state across restarts (`statePath`): Hardhat 2.28 / EDR has no state dump or load
 * (NomicFoundation/hardhat#3599 and #3504, NomicFoundation/edr#409 are open), and a genesis built
 * from account overrides would keep balances and storage but lose every block and log — and dat
 * reads published rounds from RoundPublished logs. So the devnet keeps a journal instead: every
 * state-changing JSON-RPC request (transactions, mining, hardhat_setBalance, …) is appended to the
 * state file, with the timestamps of the blocks it mined, before its answer is sent. A restart
 * starts the same genesis (the well-known Hardhat test mnemonic's accounts), replays the journal
 * with the same block timestamps and checks that it reaches the same block number and hash: the
 * chain is rebuilt block for block — the same addresses, transaction hashes, logs and balances.
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import type { Hex } from "viem";
import { NetworkError, UserError } from "../core/errors.js";

/** Hardhat's public test mnemonic: its keys are in every Hardhat tutorial, never use them for value. */
export const DEVNET_MNEMONIC = "test test test test test test test test test test test junk";

export interface DevnetTransaction {
  /** The JSON-RPC method that sent it. */
  rpcMethod: string;
  hash: Hex;
  from?: Hex;
  to?: Hex | null;
  /** The 4-byte selector of the call (undefined for a deployment or a plain transfer). */
  selector?: Hex;
  /** Gas used, or null when the transaction is not mined yet (automine off). */
  gasUsed: bigint | null;
  status: "success" | "reverted" | "pending";
  blockNumber: number | null;
  contractAddress?: Hex | null;
}

export interface StartDevnetOptions {
  /** TCP port; 0 picks a free one. */
  port?: number;
  /** Number of pre-funded accounts (the Hardhat test mnemonic's first n, 10 000 ETH each). */
  accounts?: number;
  host?: string;
  chainId?: number;
  /** Journal file that keeps the chain across restarts (created when absent, replayed when present). */
  statePath?: string;
  /** Called once per transaction the node accepted (after it is mined when automine is on). */
  onTransaction?: (tx: DevnetTransaction) => void;
}

export interface Devnet {
  url: string;
  chainId: number;
  port: number;
  /** Private keys of the pre-funded accounts (public test keys of the Hardhat mnemonic). */
  accounts: Hex[];
  /** An EIP-1193 request function into the node (no HTTP), journaled like HTTP requests. */
  request(args: { method: string; params?: unknown[] }): Promise<unknown>;
  /** When `statePath` was given and existed: what the replay restored. */
  restored?: RestoredState;
  /** Append an application record (e.g. the deployment) to the state file; no-op without one. */
  remember(key: string, value: unknown): void;
  stop(): Promise<void>;
}

export interface RestoredState {
  /** Journal entries replayed. */
  entries: number;
  blockNumber: number;
  /** The application records (`remember`) found in the file, last one per key. */
  records: Record<string, unknown>;
}

interface JsonRpcServerLike {
  listen(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}

interface ProviderLike {
  request(a: { method: string; params?: unknown[] }): Promise<unknown>;
  addListener(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener(event: string, listener: (...args: unknown[]) => void): unknown;
}

const DEVNET_BALANCE = 10n ** 22n; // 10 000 ETH
const STATE_VERSION = 1;

/**
 * Requests that change the chain (or the mempool, or what the next block will be): journaled in
 * order. Everything else is a read and is not.
 */
const MUTATING = new Set([
  "eth_sendTransaction", "eth_sendRawTransaction", "evm_mine", "hardhat_mine", "evm_increaseTime",
  "evm_setNextBlockTimestamp", "evm_setAutomine", "evm_snapshot", "evm_revert", "evm_setBlockGasLimit",
  "hardhat_setBalance", "hardhat_setCode", "hardhat_setNonce", "hardhat_setStorageAt", "hardhat_setCoinbase",
  "hardhat_setMinGasPrice", "hardhat_setNextBlockBaseFeePerGas", "hardhat_setPrevRandao",
  "hardhat_impersonateAccount", "hardhat_stopImpersonatingAccount", "hardhat_dropTransaction", "hardhat_reset",
]);

interface JournalEntry {
  method: string;
  params?: unknown[];
  ok: boolean;
  /** Blocks this request mined: [number, timestamp]. */
  blocks: [number, number][];
  /** The chain head after the request (number, hash), checked on replay. */
  head: [number, string];
}

interface StateHeader {
  dat: "devnet-state";
  version: number;
  chainId: number;
  accounts: number;
  /** Genesis timestamp (unix seconds): part of the genesis block's hash. */
  genesisTime: number;
}

/** The Hardhat test mnemonic's first `count` private keys (m/44'/60'/0'/0/i). */
export async function devnetKeys(count: number): Promise<Hex[]> {
  const { mnemonicToAccount } = await import("viem/accounts");
  const { toHex } = await import("viem");
  return Array.from({ length: count }, (_, addressIndex) =>
    toHex(mnemonicToAccount(DEVNET_MNEMONIC, { addressIndex }).getHdKey().privateKey!));
}

function readState(statePath: string): { header: StateHeader; entries: JournalEntry[]; records: Record<string, unknown> } | undefined {
  if (!fs.existsSync(statePath)) return undefined;
  const lines = fs.readFileSync(statePath, "utf8").split("\n");
  const bad = (why: string) => new UserError(`${statePath} is not a dat devnet state file: ${why}.`, {
    code: "BAD_DEVNET_STATE", hint: "Pass another --state file, or delete this one to start a fresh chain.",
  });
  let header: StateHeader;
  try {
    header = JSON.parse(lines[0]) as StateHeader;
  } catch {
    throw bad("its first line is not JSON");
  }
  if (header?.dat !== "devnet-state") throw bad("no devnet-state header");
  if (header.version !== STATE_VERSION) throw bad(`version ${header.version}, this dat reads ${STATE_VERSION}`);
  const entries: JournalEntry[] = [];
  const records: Record<string, unknown> = {};
  for (const [i, line] of lines.slice(1).entries()) {
    if (line.trim() === "") continue;
    let parsed: { entry?: JournalEntry; record?: { key: string; value: unknown } };
    try {
      parsed = JSON.parse(line) as typeof parsed;
    } catch {
      // Only the last line can be cut short (a crash mid-write); the request it recorded was never answered.
      if (i === lines.length - 2 || lines.slice(i + 2).every((l) => l.trim() === "")) break;
      throw bad(`line ${i + 2} is not JSON`);
    }
    if (parsed.entry) entries.push(parsed.entry);
    else if (parsed.record) records[parsed.record.key] = parsed.record.value;
  }
  return { header, entries, records };
}

/**
 * Start Hardhat Network with a JSON-RPC server. Resolves once the server accepts requests (and a
 * state file, when given, is replayed). Throws a UserError when the port is taken or the state
 * file is not one dat wrote.
 */
export async function startDevnet(options: StartDevnetOptions = {}): Promise<Devnet> {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 8545;
  const saved = options.statePath ? readState(options.statePath) : undefined;
  const chainId = saved?.header.chainId ?? options.chainId ?? 31337;
  const count = saved?.header.accounts ?? options.accounts ?? 10;
  if (!Number.isInteger(count) || count < 1 || count > 1000) {
    throw new UserError(`--accounts must be an integer from 1 to 1000, got ${count}.`, { code: "BAD_ACCOUNTS" });
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UserError(`--port must be an integer from 0 to 65535, got ${port}.`, { code: "BAD_PORT" });
  }
  // Deterministic keys: a replayed journal must meet the same genesis, and users get keys they know.
  const accounts = await devnetKeys(count);
  const genesisTime = saved?.header.genesisTime ?? Math.floor(Date.now() / 1000);

  // hardhat 2 is CommonJS without an exports map: its internals are plain requires.
  const require = createRequire(import.meta.url);
  const { resolveConfig } = require("hardhat/internal/core/config/config-resolution") as {
    resolveConfig(configPath: string, userConfig: unknown): unknown;
  };
  const { createProvider } = require("hardhat/internal/core/providers/construction") as {
    createProvider(config: unknown, networkName: string): Promise<ProviderLike>;
  };
  const { JsonRpcServer } = require("hardhat/internal/hardhat-network/jsonrpc/server") as {
    JsonRpcServer: new (cfg: { hostname: string; port: number; provider: unknown }) => JsonRpcServerLike;
  };
  // resolveConfig wants an existing config path only to derive project paths (cache folders we never
  // use without forking); hardhat's own package.json is a file that always exists.
  const config = resolveConfig(require.resolve("hardhat/package.json"), {
    networks: {
      hardhat: {
        chainId,
        accounts: accounts.map((privateKey) => ({ privateKey, balance: DEVNET_BALANCE.toString() })),
        loggingEnabled: false,
        // Pinned, so a replayed journal starts from the same genesis block (its hash includes the time).
        initialDate: new Date(genesisTime * 1000).toISOString(),
      },
    },
  });
  const provider = await createProvider(config, "hardhat");

  const head = async (): Promise<[number, string]> => {
    const block = (await provider.request({ method: "eth_getBlockByNumber", params: ["latest", false] })) as { number: string; hash: string };
    return [Number(block.number), block.hash];
  };
  const blocksBetween = async (from: number, to: number): Promise<[number, number][]> => {
    const blocks: [number, number][] = [];
    for (let n = from + 1; n <= to; n += 1) {
      const block = (await provider.request({ method: "eth_getBlockByNumber", params: [`0x${n.toString(16)}`, false] })) as { timestamp: string };
      blocks.push([n, Number(block.timestamp)]);
    }
    return blocks;
  };

  let restored: RestoredState | undefined;
  if (saved && options.statePath) {
    restored = await replay(provider, saved.entries, options.statePath, head, genesisTime);
    restored.records = saved.records;
  }

  let journal: number | undefined;
  if (options.statePath) {
    if (!saved) {
      const header: StateHeader = { dat: "devnet-state", version: STATE_VERSION, chainId, accounts: count, genesisTime };
      fs.writeFileSync(options.statePath, JSON.stringify(header) + "\n", { mode: 0o600 });
    }
    journal = fs.openSync(options.statePath, "a");
  }
  const append = (line: unknown) => {
    if (journal === undefined) return;
    fs.writeSync(journal, JSON.stringify(line) + "\n");
    // The answer goes out only after the entry is on disk: an acknowledged transaction is never lost.
    fs.fsyncSync(journal);
  };

  // One mutating request at a time, so the journal's order is the order the node executed them in.
  let queue: Promise<unknown> = Promise.resolve();
  const request = async (args: { method: string; params?: unknown[] }): Promise<unknown> => {
    if (!MUTATING.has(args.method)) {
      if (args.method === "evm_setIntervalMining" && journal !== undefined) {
        throw new UserError("Interval mining is not available on a devnet with --state (its blocks could not be replayed).", { code: "UNSUPPORTED" });
      }
      return provider.request(args);
    }
    const run = queue.then(async () => {
      const before = journal === undefined && !options.onTransaction ? 0 : (await head())[0];
      let result: unknown;
      let failure: unknown;
      let ok = true;
      try {
        result = await provider.request(args);
      } catch (error) {
        ok = false;
        failure = error;
      }
      if (journal !== undefined) {
        const after = await head();
        append({ entry: { method: args.method, params: args.params, ok, blocks: await blocksBetween(before, after[0]), head: after } satisfies JournalEntry });
      }
      if (options.onTransaction && (args.method === "eth_sendRawTransaction" || args.method === "eth_sendTransaction")) {
        const hash = (ok ? result : hashOfFailure(failure)) as Hex | undefined;
        if (hash) void describeTransaction(provider, args.method, hash).then(options.onTransaction, () => {});
      }
      if (!ok) throw failure;
      return result;
    });
    queue = run.catch(() => {});
    return run;
  };

  const server = new JsonRpcServer({
    hostname: host,
    port,
    provider: {
      request,
      addListener: (event: string, listener: (...a: unknown[]) => void) => provider.addListener(event, listener),
      removeListener: (event: string, listener: (...a: unknown[]) => void) => provider.removeListener(event, listener),
    },
  });
  // hardhat's listen() only waits for 'listening'; a taken port surfaces as an 'error' event.
  const internals = server as unknown as { _httpServer: import("node:http").Server; _wsServer: import("node:events").EventEmitter };
  const httpServer = internals._httpServer;
  // The websocket server re-emits the HTTP server's errors; without a listener that would throw.
  const swallowed = () => {};
  internals._wsServer.on("error", swallowed);
  let address: { address: string; port: number };
  try {
    address = await new Promise<{ address: string; port: number }>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        if (error.code === "EADDRINUSE") {
          reject(new UserError(`Port ${port} on ${host} is already in use.`, {
            code: "PORT_IN_USE",
            hint: "Pick another one with --port, or stop the process that holds it.",
          }));
        } else {
          reject(new NetworkError(`Could not listen on ${host}:${port}: ${error.message}`, { code: "DEVNET_LISTEN", cause: error }));
        }
      };
      httpServer.prependOnceListener("error", onError);
      server.listen().then((a) => {
        httpServer.off("error", onError);
        internals._wsServer.off("error", swallowed);
        resolve(a);
      }, reject);
    });
  } catch (error) {
    if (journal !== undefined) fs.closeSync(journal);
    throw error;
  }
  const url = `http://${host}:${address.port}`;
  let stopped = false;
  return {
    url,
    chainId,
    port: address.port,
    accounts,
    request,
    restored,
    remember: (key, value) => append({ record: { key, value } }),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await server.close();
      await queue;
      if (journal !== undefined) fs.closeSync(journal);
    },
  };
}

/** Hardhat reports a mined-but-reverted transaction as an error whose data carries its hash. */
function hashOfFailure(error: unknown): Hex | undefined {
  const data = (error as { data?: { transactionHash?: Hex } })?.data;
  return data?.transactionHash;
}

async function describeTransaction(provider: ProviderLike, rpcMethod: string, hash: Hex): Promise<DevnetTransaction> {
  const tx = (await provider.request({ method: "eth_getTransactionByHash", params: [hash] })) as { from: Hex; to: Hex | null; input: Hex } | null;
  const receipt = (await provider.request({ method: "eth_getTransactionReceipt", params: [hash] })) as
    | { gasUsed: Hex; status: Hex; blockNumber: Hex; contractAddress: Hex | null }
    | null;
  return {
    rpcMethod,
    hash,
    from: tx?.from,
    to: tx?.to ?? null,
    selector: tx && tx.to && tx.input.length >= 10 ? (tx.input.slice(0, 10) as Hex) : undefined,
    gasUsed: receipt ? BigInt(receipt.gasUsed) : null,
    status: receipt ? (receipt.status === "0x1" ? "success" : "reverted") : "pending",
    blockNumber: receipt ? Number(receipt.blockNumber) : null,
    contractAddress: receipt?.contractAddress ?? null,
  };
}

/**
 * Re-run a journal against a fresh genesis, block timestamps pinned to the recorded ones, and
 * check every step ends at the recorded head: a divergence (another hardhat, a hand-edited file)
 * fails loudly instead of serving a different chain under the same addresses.
 */
async function replay(
  provider: ProviderLike,
  entries: JournalEntry[],
  statePath: string,
  head: () => Promise<[number, string]>,
  genesisTime: number,
): Promise<RestoredState> {
  for (const [i, entry] of entries.entries()) {
    if (entry.blocks.length > 0) {
      await provider.request({ method: "evm_setNextBlockTimestamp", params: [`0x${entry.blocks[0][1].toString(16)}`] });
    }
    let ok = true;
    try {
      await provider.request({ method: entry.method, params: entry.params });
    } catch {
      ok = false;
    }
    const now = await head();
    if (ok !== entry.ok || now[0] !== entry.head[0] || now[1] !== entry.head[1]) {
      throw new UserError(`Replaying ${statePath} diverged at entry ${i + 1} (${entry.method}): the chain would not be the one that was saved.`, {
        code: "DEVNET_STATE_DIVERGED",
        hint: "The file was written by another dat/hardhat version or edited; start with another --state file.",
        data: { entry: i + 1, method: entry.method, expected: entry.head, got: now },
      });
    }
  }
  const [blockNumber, , ] = await head();
  // Pinned timestamps leave the node's clock where the last saved block was; move it to now so time
  // (and unstaking cooldowns) went on while the devnet was down, as it does on a real chain.
  const last = entries.flatMap((e) => e.blocks).at(-1)?.[1] ?? genesisTime;
  {
    const lag = Math.floor(Date.now() / 1000) - last;
    if (lag > 0) await provider.request({ method: "evm_increaseTime", params: [`0x${lag.toString(16)}`] });
  }
  return { entries: entries.length, blockNumber, records: {} };
}
