/**
 * `dat devnet fund` as a service, against a real Hardhat Network node: it sets ETH, mints DAT with
 * the token's owner, and refuses a chain that is not a devnet (a small JSON-RPC server posing as
 * mainnet) without sending it anything that changes state.
 */
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { privateKeyToAccount, generatePrivateKey } from "viem/accounts";
import type { Devnet } from "../../src/chain/devnet.js";
import type { ChainConnection } from "../../src/chain/clients.js";
import type { DeployedContracts } from "../../src/chain/deploy.js";
import { DatToken } from "../../src/chain/artifacts/index.js";
import { devnetToken, fundOnDevnet, isDevnet } from "../../src/chain/fund.js";
import { parseAmountOption } from "../../src/cli/commands/devnet/fund.js";
import { DeniedError, NotFoundError, UsageError, UserError } from "../../src/core/errors.js";
import type { DatConfig } from "../../src/config/schema.js";
import { startDeployedDevnet } from "./helpers.js";

const ETHER = 10n ** 18n;
let devnet: Devnet;
let owner: ChainConnection;
let contracts: DeployedContracts;

beforeAll(async () => {
  ({ devnet, operator: owner, contracts } = await startDeployedDevnet({ accounts: 2 }));
});

afterAll(async () => {
  await devnet?.stop();
});

describe("fundOnDevnet", () => {
  it("sets the ETH balance (not adds) and mints DAT with the token's owner", async () => {
    // Prepare
    const address = privateKeyToAccount(generatePrivateKey()).address;

    // Execute
    const first = await fundOnDevnet({ rpcUrl: devnet.url, address, eth: 3n * ETHER, tokens: 0n });
    const second = await fundOnDevnet({
      rpcUrl: devnet.url, address, eth: 2n * ETHER, tokens: 500n * ETHER, token: contracts.token, minter: owner.walletClient!.account,
    });

    // Assert
    expect(first.mintTxHash).toBeNull();
    expect(first.clientVersion).toMatch(/HardhatNetwork/);
    expect(second.mintTxHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(second.tokenBalance).toBe(500n * ETHER);
    expect(await owner.publicClient.getBalance({ address })).toBe(2n * ETHER);
    const balance = await owner.publicClient.readContract({ address: contracts.token, abi: DatToken.abi, functionName: "balanceOf", args: [address] });
    expect(balance).toBe(500n * ETHER);
  });

  it("refuses to mint with a wallet that does not own the token, and mints nothing", async () => {
    const address = privateKeyToAccount(generatePrivateKey()).address;
    const stranger = privateKeyToAccount(devnet.accounts[1]);

    const error = await fundOnDevnet({ rpcUrl: devnet.url, address, eth: ETHER, tokens: ETHER, token: contracts.token, minter: stranger }).catch((e) => e);

    expect(error).toBeInstanceOf(DeniedError);
    expect(error.code).toBe("NOT_TOKEN_OWNER");
    const balance = await owner.publicClient.readContract({ address: contracts.token, abi: DatToken.abi, functionName: "balanceOf", args: [address] });
    expect(balance).toBe(0n);
  });

  it("refuses minting without a token or wallet, and negative amounts", async () => {
    const address = privateKeyToAccount(generatePrivateKey()).address;
    await expect(fundOnDevnet({ rpcUrl: devnet.url, address, eth: ETHER, tokens: ETHER })).rejects.toMatchObject({ code: "NO_MINTER" });
    await expect(fundOnDevnet({ rpcUrl: devnet.url, address, eth: -1n, tokens: 0n })).rejects.toMatchObject({ code: "BAD_AMOUNT" });
  });

  it("refuses a chain that is not a Hardhat devnet and sends it nothing but reads", async () => {
    // Prepare: a JSON-RPC server that says it is Geth on chain 1.
    const methods: string[] = [];
    const server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        const parsed = JSON.parse(body) as { id: number; method: string } | { id: number; method: string }[];
        const answer = (call: { id: number; method: string }) => {
          methods.push(call.method);
          const result = call.method === "eth_chainId" ? "0x1" : call.method === "web3_clientVersion" ? "Geth/v1.14.0-stable/linux-amd64/go1.22" : null;
          return result === null
            ? { jsonrpc: "2.0", id: call.id, error: { code: -32601, message: "method not found" } }
            : { jsonrpc: "2.0", id: call.id, result };
        };
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify(Array.isArray(parsed) ? parsed.map(answer) : answer(parsed)));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as import("node:net").AddressInfo;
    try {
      // Execute
      const error = await fundOnDevnet({
        rpcUrl: `http://127.0.0.1:${port}`, address: owner.walletClient!.account.address, eth: ETHER, tokens: 0n,
      }).catch((e) => e);

      // Assert
      expect(error).toBeInstanceOf(UserError);
      expect(error.code).toBe("NOT_A_DEVNET");
      expect(methods).not.toContain("hardhat_setBalance");
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("tells a devnet from other chains", () => {
    expect(isDevnet("HardhatNetwork/2.28.0/@nomicfoundation/edr/0.12.0", 1337)).toBe(true);
    expect(isDevnet("anvil/v1.0.0", 31337)).toBe(true);
    expect(isDevnet("Geth/v1.14.0", 1)).toBe(false);
    expect(isDevnet("", 11155111)).toBe(false);
  });

  it("finds the token recorded for the chain, or says there is none", () => {
    const config = { chain: { rpcUrl: devnet.url, deployments: { "31337": { ...contracts } } } } as unknown as DatConfig;
    expect(devnetToken(config, 31337)).toBe(contracts.token);
    expect(() => devnetToken(config, 5)).toThrow(NotFoundError);
  });
});

describe("parseAmountOption", () => {
  it("parses decimal amounts into 18-decimal base units", () => {
    expect(parseAmountOption("--eth", "10")).toBe(10n * ETHER);
    expect(parseAmountOption("--eth", "0.5")).toBe(ETHER / 2n);
    expect(parseAmountOption("--tokens", "0")).toBe(0n);
  });

  it("refuses malformed amounts with a usage error", () => {
    for (const bad of ["", "-1", "1e18", "ten", "0x10", "1.0000000000000000001", "1,5", " . "]) {
      expect(() => parseAmountOption("--eth", bad), bad).toThrow(UsageError);
    }
  });
});
