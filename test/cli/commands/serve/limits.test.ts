/**
 * Registration caps and page sizes are config keys (orchestrator.maxNodes, .maxNodesPerIp,
 * .registrationsPerMinute, .nodesPageSize, .nodesPageMax): `dat config set` refuses malformed
 * values, and a real `dat serve` enforces what its home's config says — a lowered cap refuses the
 * next registration with its documented code, a raised one lets more in. The embedded orchestrator
 * (commands run in the operator's home) reads the same keys.
 */
import fs from "node:fs";
import path from "node:path";
import type { ChildProcess } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { buildRegistration } from "../../../../src/contributor/submission.js";
import { setConfigValue } from "../../../../src/config/write.js";
import { loadConfig } from "../../../../src/config/load.js";
import { connectOrchestrator } from "../../../../src/orchestrator/connect.js";
import { createHttpOrchestrator } from "../../../../src/orchestrator/http/client.js";
import { dat, exited, startServe, TEST_ENV } from "../../../orchestrator/cli.js";
import { account, tempHome } from "../../../orchestrator/helpers.js";

const homes: string[] = [];
const servers: ChildProcess[] = [];

function home(): string {
  const dir = tempHome("dat-limits-");
  homes.push(dir);
  return dir;
}

async function serve(dir: string): Promise<string> {
  const started = await startServe(dir);
  servers.push(started.child);
  return started.url;
}

async function stop(child: ChildProcess): Promise<void> {
  child.kill("SIGTERM");
  await exited(child);
}

/** POSTs a fresh node's signed registration; the status and the error code, if any. */
async function registerFresh(url: string): Promise<{ status: number; code?: string }> {
  const registration = await buildRegistration(account(), "cpu", { cpus: 1 });
  const res = await fetch(`${url}/nodes`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(registration) });
  const body = (await res.json()) as { error?: { code: string } };
  return { status: res.status, code: body.error?.code };
}

async function setAll(dir: string, values: Record<string, number>): Promise<void> {
  for (const [key, value] of Object.entries(values)) await setConfigValue(dir, `orchestrator.${key}`, String(value));
}

afterAll(async () => {
  for (const child of servers) if (child.exitCode === null && child.signalCode === null) await stop(child);
  for (const dir of homes) fs.rmSync(dir, { recursive: true, force: true });
});

describe("registration limits from the config", () => {
  it("dat config set refuses a malformed cap, naming the key and the rule, and keeps the file", async () => {
    const dir = home();
    expect((await dat(dir, ["--json", "config", "set", "orchestrator.maxNodesPerIp", "64"])).code).toBe(0);
    for (const bad of ["0", "-5", "1.5", "many"]) {
      const run = await dat(dir, ["--json", "config", "set", "orchestrator.maxNodesPerIp", bad]);
      expect(run.code).toBe(3);
      expect(run.json.error.code).toBe("CONFIG_INVALID");
      expect(run.json.error.message).toContain("orchestrator.maxNodesPerIp");
      expect(run.json.error.message).toContain("must be a positive integer");
      expect(run.json.error.message).toContain(`"${bad}"`);
    }
    const file = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
    expect(file.orchestrator.maxNodesPerIp).toBe(64);
    // The same rule from the environment, when dat serve starts: it refuses to start.
    const fromEnv = await dat(dir, ["--json", "serve", "--port", "0"], { ...TEST_ENV, DAT_ORCHESTRATOR_REGISTRATIONS_PER_MINUTE: "0" });
    expect(fromEnv.code).toBe(3);
    expect(fromEnv.json.error.code).toBe("CONFIG_INVALID");
    expect(fromEnv.json.error.message).toContain("DAT_ORCHESTRATOR_REGISTRATIONS_PER_MINUTE");
  }, 120_000);

  it("dat serve enforces lowered caps and page sizes, then raised ones after a restart", async () => {
    const dir = home();
    await setAll(dir, { maxNodesPerIp: 2, registrationsPerMinute: 3, nodesPageSize: 1, nodesPageMax: 2 });
    const first = await serve(dir);
    expect(await registerFresh(first)).toEqual({ status: 200, code: undefined });
    expect(await registerFresh(first)).toEqual({ status: 200, code: undefined });
    // The third node from this IP is over maxNodesPerIp = 2; the fourth request over 3 per minute.
    expect(await registerFresh(first)).toEqual({ status: 403, code: "REGISTRATION_IP_CAP" });
    expect(await registerFresh(first)).toEqual({ status: 429, code: "RATE_LIMITED" });
    const page = (await (await fetch(`${first}/nodes`)).json()) as { nodes: { address: string }[]; next: string | null };
    expect(page.nodes).toHaveLength(1);
    expect(page.next).toBe(page.nodes[0].address);
    expect(((await (await fetch(`${first}/nodes?limit=2`)).json()) as { nodes: unknown[] }).nodes).toHaveLength(2);
    expect((await fetch(`${first}/nodes?limit=3`)).status).toBe(400);
    // The HTTP client pages through all of them in the server's page size.
    const client = createHttpOrchestrator({ url: first, attempts: 1 });
    expect(await client.listNodes()).toHaveLength(2);
    await client.close();
    await stop(servers.at(-1)!);

    // Raised: 20 nodes from one IP (the default allows 16), and maxNodes = 20 refuses the 21st.
    await setAll(dir, { maxNodesPerIp: 40, registrationsPerMinute: 100, maxNodes: 20, nodesPageMax: 50 });
    const second = await serve(dir);
    const answers = [];
    for (let i = 0; i < 18; i++) answers.push(await registerFresh(second));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(18);
    expect(await registerFresh(second)).toEqual({ status: 403, code: "REGISTRY_FULL" });
    const all = (await (await fetch(`${second}/nodes?limit=20`)).json()) as { nodes: unknown[] };
    expect(all.nodes).toHaveLength(20);
  }, 180_000);

  it("the embedded orchestrator of a home reads orchestrator.maxNodes", async () => {
    const dir = home();
    await setAll(dir, { maxNodes: 1 });
    const config = (await loadConfig({ home: dir, env: {} })).values;
    const orch = await connectOrchestrator({ home: dir, config });
    try {
      await orch.registerNode(await buildRegistration(account(), "cpu", {}));
      const refused = await orch.registerNode(await buildRegistration(account(), "cpu", {})).catch((e: { code?: string; exitCode?: number }) => e);
      expect(refused).toMatchObject({ code: "REGISTRY_FULL", exitCode: 5 });
    } finally {
      await orch.close();
    }
  }, 60_000);
});
