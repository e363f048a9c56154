/**
 * `dat infer` end to end against a real devnet and a real `dat serve` app (the orchestrator's
 * server with the inference routes) listening on loopback: remotely and locally, a holder gets
 * predictions, a non-holder exits 5 with the numbers and, after a transfer, gets predictions;
 * an encrypted model's key is released by the key service and cached encrypted in the home.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import type { FastifyInstance } from "fastify";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import type { Address } from "viem";
import type { Devnet } from "../../src/chain/devnet.js";
import type { ChainConnection } from "../../src/chain/clients.js";
import type { DeployedContracts } from "../../src/chain/deploy.js";
import { sendDat, startDeployedDevnet } from "../chain/helpers.js";
import { setConfigValue, loadConfig } from "../../src/config/index.js";
import { createKeystore } from "../../src/crypto/keystore.js";
import { openDatabase } from "../../src/db/index.js";
import { insertRound, transitionRound } from "../../src/db/rounds.js";
import { openStore } from "../../src/store/index.js";
import { createEmbeddedOrchestrator, type EmbeddedOrchestrator } from "../../src/orchestrator/embedded.js";
import { buildServer } from "../../src/server/app.js";
import { packModel } from "../../src/train/modelIo.js";
import { publishEncryptedModel, modelsCacheDir } from "../../src/inference/modelKeys.js";
import type { CreateJobInput } from "../../src/orchestrator/types.js";
import { runDat, type DatRun } from "../cli/helpers.js";

const TOKEN = 10n ** 18n;
const PASS = "correct horse battery staple";
let devnet: Devnet;
let operator: ChainConnection;
let contracts: DeployedContracts;
let server: FastifyInstance;
const orchestrators: EmbeddedOrchestrator[] = [];
let url: string;
const homes = { server: "", holder: "", newcomer: "" };
const ids = { gated: 0, encrypted: 0, local: 0 };
const holderKey = generatePrivateKey();
const newcomerKey = generatePrivateKey();
const newcomer = privateKeyToAccount(newcomerKey).address;
let inputFile: string;

const jobInput: CreateJobInput = {
  rounds: 1, minContributors: 1, deadlineSeconds: 60, strategy: "fedavg", encoding: "float32",
  hyper: { epochs: 1, batchSize: 8, lr: 0.01, optimizer: "sgd" },
} as CreateJobInput;

/** The built CLI as a child process in `home`, without the test process's DAT_* variables. */
function dat(home: string, args: string[]): Promise<DatRun> {
  return runDat(["--home", home, ...args], { env: { DAT_PASSPHRASE: PASS } });
}

async function transfer(to: Address, amount: bigint) {
  await sendDat({ operator, contracts }, "transfer", to, amount);
}

async function configure(home: string) {
  await setConfigValue(home, "chain.rpcUrl", devnet.url);
  await setConfigValue(home, "chain.deployments", { [String(devnet.chainId)]: contracts });
}

beforeAll(async () => {
  for (const k of Object.keys(homes) as (keyof typeof homes)[]) homes[k] = fs.mkdtempSync(path.join(os.tmpdir(), `dat-infer-cli-${k}-`));
  ({ devnet, operator, contracts } = await startDeployedDevnet({ accounts: 1, operatorTokens: 100n * TOKEN }));
  await transfer(privateKeyToAccount(holderKey).address, 3n * TOKEN);
  for (const home of Object.values(homes)) await configure(home);
  const env = { ...process.env, DAT_SCRYPT_N: "1024" };
  await createKeystore(homes.holder, { passphrase: PASS, privateKey: holderKey, env });
  await createKeystore(homes.newcomer, { passphrase: PASS, privateKey: newcomerKey, env });

  const model = tf.sequential();
  model.add(tf.layers.dense({ inputShape: [4], units: 3, activation: "softmax" }));
  const bytes = await packModel(model);

  // The server: a gated job (default token, one whole token) and one whose published model is encrypted.
  const orch = await createEmbeddedOrchestrator({ home: homes.server });
  orchestrators.push(orch);
  ids.gated = (await orch.createJob(jobInput, bytes)).id;
  const encrypted = await orch.createJob({ ...jobInput, encryptModel: true, gateMin: String(TOKEN / 2n), minStake: String(TOKEN) }, bytes);
  ids.encrypted = encrypted.id;
  const db = openDatabase(homes.server);
  const store = await openStore(homes.server, (await loadConfig({ home: homes.server, env: {} })).values);
  const published = await publishEncryptedModel(db, store, { jobId: String(encrypted.id), plain: bytes });
  insertRound(db, { jobId: encrypted.id, round: 1, publicKey: "00", privateKey: "00", baseModelCid: encrypted.initialModelCid, deadline: Date.now() + 60_000 });
  for (const to of ["collecting", "aggregating"] as const) transitionRound(db, encrypted.id, 1, { to });
  transitionRound(db, encrypted.id, 1, { to: "published", modelCid: published.cid, closedAt: Date.now() });
  db.close();
  server = await buildServer({ orchestrator: orch, pluginDeps: { home: homes.server } });
  url = await server.listen({ host: "127.0.0.1", port: 0 });

  // The newcomer's own home runs a gated job of its own (embedded, no server).
  const local = await createEmbeddedOrchestrator({ home: homes.newcomer });
  orchestrators.push(local);
  ids.local = (await local.createJob(jobInput, bytes)).id;

  inputFile = path.join(homes.holder, "rows.csv");
  fs.writeFileSync(inputFile, "a,b,c,d\n0.1,0.2,0.3,0.4\n1,0,1,0\n");
});

afterAll(async () => {
  await server?.close();
  for (const o of orchestrators) await o.close();
  await devnet?.stop();
  for (const home of Object.values(homes)) if (home) fs.rmSync(home, { recursive: true, force: true });
});

describe("dat infer", () => {
  it("remote: a holder gets a class and probabilities per input; a non-holder exits 5 with held vs required", async () => {
    const ok = await dat(homes.holder, ["--json", "infer", "--job", String(ids.gated), "--input", inputFile, "--orchestrator", url]);
    expect(ok.stderr).not.toContain("internal error");
    expect(ok.code).toBe(0);
    const result = JSON.parse(ok.stdout);
    expect(result.predictions).toHaveLength(2);
    expect(result.predictions[0].probabilities).toHaveLength(3);
    expect(result.predictions[0].source).toBe("line 2");

    const denied = await dat(homes.newcomer, ["infer", "--job", String(ids.gated), "--input", inputFile, "--orchestrator", url]);
    expect(denied.code).toBe(5);
    expect(denied.stderr).toContain(newcomer);
    expect(denied.stderr).toContain(contracts.token);
    expect(denied.stderr).toMatch(/holds 0 DAT .*requires at least 1 DAT/);
    expect(denied.stderr).toContain("required: 1 DAT (1000000000000000000 base units)");
  });

  it("local: a non-holder is denied, and after a transfer gets predictions", async () => {
    const denied = await dat(homes.newcomer, ["--json", "infer", "--job", String(ids.local), "--input", inputFile]);
    expect(denied.code).toBe(5);
    const { error } = JSON.parse(denied.stdout);
    expect(error).toMatchObject({ code: "GATE_INSUFFICIENT_BALANCE", data: { address: newcomer, held: "0", required: String(TOKEN) } });

    await transfer(newcomer, TOKEN);
    const deadline = Date.now() + 60_000;
    let run: DatRun;
    do {
      run = await dat(homes.newcomer, ["--json", "infer", "--job", String(ids.local), "--input", inputFile]);
    } while (run.code === 5 && Date.now() < deadline);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).predictions).toHaveLength(2);
  });

  it("local with a key service: the encrypted model's key is released to a holder, the model cached encrypted, mode 0600", async () => {
    const run = await dat(homes.holder, ["--json", "infer", "--local", "--job", String(ids.encrypted), "--input", inputFile, "--orchestrator", url]);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result.round).toBe(1);
    const cached = path.join(modelsCacheDir(homes.holder), `${result.modelCid}.enc`);
    expect(fs.statSync(cached).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(cached).subarray(0, 4).toString("ascii")).toBe("DATE");

    // Served remotely too, and a stranger gets no key.
    const remote = await dat(homes.holder, ["--json", "infer", "--job", String(ids.encrypted), "--input", inputFile, "--orchestrator", url]);
    expect(remote.code, remote.stderr).toBe(0);
    const stranger = fs.mkdtempSync(path.join(os.tmpdir(), "dat-infer-cli-stranger-"));
    await configure(stranger);
    await createKeystore(stranger, { passphrase: PASS, env: { ...process.env, DAT_SCRYPT_N: "1024" } });
    const refused = await dat(stranger, ["--json", "infer", "--local", "--job", String(ids.encrypted), "--input", inputFile, "--orchestrator", url]);
    expect(refused.code).toBe(5);
    expect(JSON.parse(refused.stdout).error.code).toBe("GATE_INSUFFICIENT_BALANCE");
    expect(fs.existsSync(modelsCacheDir(stranger)) ? fs.readdirSync(modelsCacheDir(stranger)).filter((f) => f.endsWith(".enc")) : []).toEqual([]);
    fs.rmSync(stranger, { recursive: true, force: true });
  });

  it("rejects a malformed input file with exit 3 and the line", async () => {
    const bad = path.join(homes.holder, "bad.csv");
    fs.writeFileSync(bad, "a,b,c,d\n1,2,x,4\n");
    const run = await dat(homes.holder, ["infer", "--job", String(ids.gated), "--input", bad, "--orchestrator", url]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('bad.csv line 2, column "c"');
  });
});
