/**
 * A local EVM chain: Hardhat Network (EDR) running in this process behind a real JSON-RPC
 * server on 127.0.0.1, the same server `npx hardhat node` starts, built from hardhat's own
 * exported pieces with a config object made in code (no hardhat.config file needed).
 */
import { createRequire } from "node:module";
import type { Hex } from "viem";
import { NetworkError, UserError } from "../core/errors.js";

export interface StartDevnetOptions {
  /** TCP port; 0 picks a free one. */
  port?: number;
  /** Number of pre-funded accounts (random keys, 10 000 ETH each). */
  accounts?: number;
  host?: string;
  chainId?: number;
}

export interface Devnet {
  url: string;
  chainId: number;
  port: number;
  /** Private keys of the pre-funded accounts; never printed by dat. */
  accounts: Hex[];
  /** An EIP-1193 request function straight into the node (no HTTP), e.g. for hardhat_setBalance. */
  request(args: { method: string; params?: unknown[] }): Promise<unknown>;
  stop(): Promise<void>;
}

interface JsonRpcServerLike {
  listen(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}

const DEVNET_BALANCE = 10n ** 22n; // 10 000 ETH

/**
 * Start Hardhat Network with a JSON-RPC server. Resolves once the server accepts requests.
 * Throws a UserError when the port is taken.
 */
export async function startDevnet(options: StartDevnetOptions = {}): Promise<Devnet> {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 8545;
  const chainId = options.chainId ?? 31337;
  const count = options.accounts ?? 10;
  if (!Number.isInteger(count) || count < 1 || count > 1000) {
    throw new UserError(`--accounts must be an integer from 1 to 1000, got ${count}.`, { code: "BAD_ACCOUNTS" });
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UserError(`--port must be an integer from 0 to 65535, got ${port}.`, { code: "BAD_PORT" });
  }
  const { generatePrivateKey } = await import("viem/accounts");
  const accounts: Hex[] = Array.from({ length: count }, () => generatePrivateKey());

  // hardhat 2 is CommonJS without an exports map: its internals are plain requires.
  const require = createRequire(import.meta.url);
  const { resolveConfig } = require("hardhat/internal/core/config/config-resolution") as {
    resolveConfig(configPath: string, userConfig: unknown): unknown;
  };
  const { createProvider } = require("hardhat/internal/core/providers/construction") as {
    createProvider(config: unknown, networkName: string): Promise<{ request(a: { method: string; params?: unknown[] }): Promise<unknown> }>;
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
      },
    },
  });
  const provider = await createProvider(config, "hardhat");
  const server = new JsonRpcServer({ hostname: host, port, provider });
  // hardhat's listen() only waits for 'listening'; a taken port surfaces as an 'error' event.
  const internals = server as unknown as { _httpServer: import("node:http").Server; _wsServer: import("node:events").EventEmitter };
  const httpServer = internals._httpServer;
  // The websocket server re-emits the HTTP server's errors; without a listener that would throw.
  const swallowed = () => {};
  internals._wsServer.on("error", swallowed);
  const address = await new Promise<{ address: string; port: number }>((resolve, reject) => {
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
  const url = `http://${host}:${address.port}`;
  let stopped = false;
  return {
    url,
    chainId,
    port: address.port,
    accounts,
    request: (args) => provider.request(args),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await server.close();
    },
  };
}
