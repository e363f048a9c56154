/**
 * `dat join` against a real Hardhat Network chain: the network description of a real `dat serve`
 * app (GET /network) is recorded in one write; every bad input (not an orchestrator, contracts
 * absent on the RPC, another chain, nobody listening) is a clear error that leaves the config
 * byte-for-byte as it was. The bad orchestrators are plain node:http servers whose answers are
 * written here by hand, not by dat's code.
 */
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { startDeployedDevnet, type DeployedDevnet } from "../../../chain/helpers.js";
import { joinNetwork } from "../../../../src/contributor/join.js";
import { buildServer } from "../../../../src/server/app.js";
import { createEmbeddedOrchestrator, type EmbeddedOrchestrator } from "../../../../src/orchestrator/embedded.js";
import { loadConfig } from "../../../../src/config/index.js";
import { updateConfig } from "../../../../src/config/write.js";

let chain: DeployedDevnet;
let tmp: string;
let operatorHome: string;
let app: FastifyInstance;
let orch: EmbeddedOrchestrator;
let url: string;
const fakes: http.Server[] = [];

/** A plain HTTP server answering every request with `status`, `type` and `body`. */
async function fakeServer(status: number, type: string, body: string): Promise<string> {
  const server = http.createServer((_req, res) => res.writeHead(status, { "content-type": type }).end(body));
  fakes.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function networkDoc(over: { chainId?: number; rpcUrl?: string; contracts?: Record<string, unknown> }): string {
  const c = chain.contracts;
  return JSON.stringify({
    service: "dat-orchestrator", version: 1,
    chain: {
      chainId: over.chainId ?? chain.devnet.chainId, rpcUrl: over.rpcUrl ?? chain.devnet.url,
      contracts: over.contracts ?? { token: c.token, registry: c.registry, distributor: c.distributor, staking: c.staking, blockNumber: c.blockNumber },
    },
    gateToken: c.token, jobs: [],
  });
}

function freshHome(name: string): { home: string; before: string } {
  const home = path.join(tmp, name);
  fs.mkdirSync(home, { recursive: true });
  const before = JSON.stringify({ train: { backend: "wasm" } }, null, 2) + "\n";
  fs.writeFileSync(path.join(home, "config.json"), before, { mode: 0o600 });
  return { home, before };
}

async function refused(home: string, before: string, joinUrl: string, rpcUrl?: string): Promise<{ code: string; message: string }> {
  const error = await joinNetwork({ home, url: joinUrl, rpcUrl, timeoutMs: 5_000 }).then(() => undefined, (e: unknown) => e as { code: string; message: string });
  expect(error, "join should have failed").toBeDefined();
  expect(fs.readFileSync(path.join(home, "config.json"), "utf8")).toBe(before);
  return error!;
}

beforeAll(async () => {
  chain = await startDeployedDevnet({ accounts: 2 });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dat-join-"));
  operatorHome = path.join(tmp, "operator");
  const c = chain.contracts;
  await updateConfig(operatorHome, () => ({
    chain: { rpcUrl: chain.devnet.url, deployments: { [String(chain.devnet.chainId)]: { token: c.token, registry: c.registry, distributor: c.distributor, staking: c.staking, blockNumber: c.blockNumber } } },
  }));
  const config = (await loadConfig({ home: operatorHome, env: {} })).values;
  orch = await createEmbeddedOrchestrator({ home: operatorHome, config });
  app = await buildServer({ orchestrator: orch, home: operatorHome, pluginDeps: { config } });
  url = await app.listen({ host: "127.0.0.1", port: 0 });
});

afterAll(async () => {
  await app?.close();
  await orch?.close();
  for (const f of fakes) f.close();
  await chain?.devnet.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe("dat join", () => {
  it("records chain id, RPC, every contract and the orchestrator in one write", async () => {
    const { home } = freshHome("ok");
    const result = await joinNetwork({ home, url: url + "/" });
    expect(result.chainId).toBe(chain.devnet.chainId);
    const saved = JSON.parse(fs.readFileSync(path.join(home, "config.json"), "utf8")) as {
      chain: { rpcUrl: string; chainId: number; deployments: Record<string, { token: string; staking: string }> }; orchestrator: { url: string }; train: unknown;
    };
    expect(saved.orchestrator.url).toBe(url);
    expect(saved.chain.rpcUrl).toBe(chain.devnet.url);
    expect(saved.chain.chainId).toBe(chain.devnet.chainId);
    expect(saved.chain.deployments[String(chain.devnet.chainId)].token.toLowerCase()).toBe(chain.contracts.token.toLowerCase());
    expect(saved.chain.deployments[String(chain.devnet.chainId)].staking.toLowerCase()).toBe(chain.contracts.staking.toLowerCase());
    expect(saved.train).toEqual({ backend: "wasm" }); // what was there is kept
    // The resolved config now finds the chain: what `dat rewards` needs.
    const config = (await loadConfig({ home, env: {} })).values;
    expect(config.orchestrator.url).toBe(url);
  });

  it("refuses an HTML page and a 404 as not a dat orchestrator", async () => {
    const { home, before } = freshHome("html");
    const html = await fakeServer(200, "text/html", "<html><body>hello</body></html>");
    expect((await refused(home, before, html)).code).toBe("JOIN_NOT_ORCHESTRATOR");
    const missing = await fakeServer(404, "text/html", "<h1>Not Found</h1>");
    const error = await refused(home, before, missing);
    expect(error.code).toBe("JOIN_NOT_ORCHESTRATOR");
    expect(error.message).toContain("404");
    const otherJson = await fakeServer(200, "application/json", JSON.stringify({ service: "something-else", chain: null }));
    expect((await refused(home, before, otherJson)).code).toBe("JOIN_NOT_ORCHESTRATOR");
  });

  it("refuses a description whose contracts have no code on the RPC", async () => {
    const { home, before } = freshHome("nocode");
    const bogus = "0x" + "ab".repeat(20);
    const doc = networkDoc({ contracts: { token: chain.contracts.token, registry: bogus, distributor: chain.contracts.distributor, blockNumber: 0 } });
    const error = await refused(home, before, await fakeServer(200, "application/json", doc));
    expect(error.code).toBe("NO_CONTRACT");
    expect(error.message).toContain(bogus);
  });

  it("refuses a chain id that the RPC does not serve", async () => {
    const { home, before } = freshHome("chainid");
    const doc = networkDoc({ chainId: chain.devnet.chainId + 1 });
    const error = await refused(home, before, await fakeServer(200, "application/json", doc));
    expect(error.code).toBe("JOIN_CHAIN_MISMATCH");
    expect(error.message).toContain(String(chain.devnet.chainId + 1));
  });

  it("refuses a malformed URL and a server that is not there", async () => {
    const { home, before } = freshHome("bad-url");
    expect((await refused(home, before, "ftp://example.org")).code).toBe("ORCHESTRATOR_BAD_URL");
    expect((await refused(home, before, "not a url")).code).toBe("ORCHESTRATOR_BAD_URL");
    const dead = await fakeServer(200, "text/plain", "");
    const closing = fakes.pop()!;
    await new Promise((resolve) => closing.close(resolve));
    expect((await refused(home, before, dead)).code).toBe("ORCHESTRATOR_UNREACHABLE");
  });
});
