/**
 * Model leaks against a real `dat serve` on a real devnet (issue 13, "The gated model never leaves
 * the gate"): a gated job's model goes to gate holders and to contributors staked in the job who
 * prove their address with a signed challenge, to no one else (registration is free, so a
 * registered node without stake gets nothing); a gate without a minimum stake is refused at
 * creation, and one stored that way by an older version serves gate holders only; sealed deltas
 * go to the operator only; the public job view names no operator file.
 */
import fs from "node:fs";
import path from "node:path";
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import Database from "better-sqlite3";
import type { Address } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectChain } from "../../src/chain/clients.js";
import { stakeForJob } from "../../src/chain/staking.js";
import { buildRegistration, buildSubmission } from "../../src/contributor/submission.js";
import { modelAuthOf } from "../../src/contributor/pull.js";
import { createHttpOrchestrator } from "../../src/orchestrator/http/client.js";
import type { Orchestrator, RoundInfo } from "../../src/orchestrator/types.js";
import { HIDDEN_PATH } from "../../src/server/orchestratorRoutes.js";
import { cidForBytes } from "../../src/store/cid.js";
import { BIN, ROOT, TEST_ENV, dat, exited, startServe } from "../orchestrator/cli.js";
import { account, constantDelta, jobInput, tempHome, tinyModel } from "../orchestrator/helpers.js";

interface DevnetReady {
  url: string;
  staking: Address;
}

/** `dat devnet --port 0` in `home`; resolves once its ready event (URL and contracts) is printed. */
function startDevnet(home: string): Promise<{ child: ChildProcess; ready: DevnetReady }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, "--home", home, "--json", "devnet", "--port", "0"], { env: TEST_ENV, cwd: ROOT });
    let out = "";
    const timer = setTimeout(() => reject(new Error(`devnet not ready:\n${out}`)), 90_000);
    const onData = (d: Buffer) => {
      out += d;
      for (const line of out.split("\n").slice(0, -1)) {
        if (!line.startsWith("{")) continue;
        try {
          const doc = JSON.parse(line) as { event?: string; url?: string; staking?: Address };
          if (doc.url && doc.staking) {
            clearTimeout(timer);
            resolve({ child, ready: { url: doc.url, staking: doc.staking } });
            return;
          }
        } catch {
          // not JSON
        }
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`devnet exited ${code}:\n${out}`)));
  });
}

async function errorOf(promise: Promise<unknown>): Promise<{ code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string };
  }
  throw new Error("expected a rejection");
}

const TOKEN = 10n ** 18n;

describe("model leaks against dat serve", () => {
  let home: string;
  let devnet: ChildProcess;
  let server: { url: string; child: ChildProcess };
  let operator: Orchestrator;
  let anonymous: Orchestrator;
  let round: RoundInfo;
  let validationFile: string;
  let oldJobCid: string;
  let nodeHome: string;
  let nodeAddress: string;
  const staker = account();
  const registered = account();
  const holder = account();
  const outsider = account();
  const { DAT_OPERATOR_TOKEN: _operatorOnly, ...nodeEnv } = TEST_ENV;
  const nodeDat = (args: string[]) => dat(nodeHome, ["--json", ...args], nodeEnv);

  beforeAll(async () => {
    home = tempHome("dat-leak-");
    expect((await dat(home, ["init", "--json"])).code).toBe(0);
    const started = await startDevnet(home);
    devnet = started.child;
    // The staker gets exactly its stake: once staked it holds no gate token, so only its stake admits it.
    for (const [who, tokens] of [[holder, "5"], [staker, "1"]] as const) {
      const funded = await dat(home, ["--json", "devnet", "fund", "--address", who.address, "--eth", "1", "--tokens", tokens]);
      expect(funded.code, funded.stderr).toBe(0);
    }
    // Balances read fresh on every check: a node funded mid-test is a holder at once.
    expect((await dat(home, ["config", "set", "infer.balanceCacheSeconds", "0"])).code).toBe(0);
    server = await startServe(home);
    operator = createHttpOrchestrator({ url: server.url, operatorToken: TEST_ENV.DAT_OPERATOR_TOKEN, attempts: 1 });
    anonymous = createHttpOrchestrator({ url: server.url, attempts: 1 });

    // Job 1: gated and staked (1 DAT), made by `dat job create`, which sets the minimum on chain.
    const created = await dat(home, ["--json", "job", "create", "--model", path.join(ROOT, "fixtures", "mlp-digits"), "--rounds", "2",
      "--min-contributors", "1", "--epochs", "1", "--batch-size", "16", "--lr", "0.05", "--gate-min", "1", "--min-stake", "1"]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.json.id).toBe(1);
    const chain = await connectChain({ rpcUrl: started.ready.url, account: staker });
    await stakeForJob(chain.publicClient, chain.walletClient!, { staking: started.ready.staking, jobId: 1, amount: TOKEN });
    round = await operator.openRound(1);
    for (const who of [staker, registered]) await operator.registerNode(await buildRegistration(who, "cpu", { cpus: 2 }));

    // Job 2: what an older database may hold, a gate without a minimum stake (creation refuses it
    // now, so the minimum is removed from the row afterwards). Its own model: CIDs are per content.
    validationFile = path.join(home, "secret-validation.csv");
    fs.writeFileSync(validationFile, "f0,label\n1,0\n");
    const { bytes } = await tinyModel();
    const old = await operator.createJob(jobInput({ gateMin: TOKEN.toString(), minStake: "1", validationPath: validationFile, labelColumn: "label" }), bytes);
    expect(old.id).toBe(2);
    oldJobCid = old.initialModelCid;
    const db = new Database(path.join(home, "dat.db"));
    try {
      expect(db.prepare("UPDATE job_econ SET min_stake = NULL WHERE job_id = 2").run().changes).toBe(1);
    } finally {
      db.close();
    }

    // A registered node without stake, as a home of its own for the CLI (no operator token in its env).
    nodeHome = path.join(home, "node");
    for (const args of [["init"], ["join", server.url], ["node", "register"]]) {
      const run = await nodeDat(args);
      expect(run.code, `${args.join(" ")}: ${run.stderr}`).toBe(0);
      if (args[0] === "init") nodeAddress = run.json.address;
    }
  }, 300_000);

  afterAll(async () => {
    await operator?.close();
    await anonymous?.close();
    for (const child of [server?.child, devnet]) {
      if (!child) continue;
      child.kill("SIGTERM");
      await exited(child);
    }
    if (home) fs.rmSync(home, { recursive: true, force: true });
  });

  it("refuses to create a gated job without a minimum stake", async () => {
    const { bytes } = await tinyModel();
    expect((await errorOf(operator.createJob(jobInput({ gateMin: TOKEN.toString() }), bytes))).code).toBe("JOB_GATE_WITHOUT_STAKE");
    expect((await errorOf(operator.createJob(jobInput({ gateMin: TOKEN.toString(), minStake: "0" }), bytes))).code).toBe("JOB_GATE_WITHOUT_STAKE");
    const cli = await dat(home, ["--json", "job", "create", "--model", path.join(ROOT, "fixtures", "mlp-digits"), "--rounds", "1",
      "--min-contributors", "1", "--epochs", "1", "--batch-size", "16", "--lr", "0.05", "--gate-min", "1"]);
    expect(cli.code).toBe(3);
    expect(cli.json.error.code).toBe("JOB_GATE_WITHOUT_STAKE");
    expect(cli.json.error.hint).toContain("--min-stake");
    expect((await anonymous.listJobs()).map((j) => j.id)).toEqual([1, 2]);
  }, 60_000);

  it("serves a gated job's model only after a signed challenge from a staked contributor or a holder", async () => {
    const cid = round.modelCid;
    // No proof at all: refused, with the job to sign for.
    const bare = await fetch(`${server.url}/models/${cid}`);
    expect(bare.status).toBe(403);
    const body = (await bare.json()) as { error: { code: string; data: { jobId: number } } };
    expect(body.error.code).toBe("MODEL_AUTH_REQUIRED");
    expect(body.error.data.jobId).toBe(1);
    expect((await errorOf(anonymous.getModel(cid))).code).toBe("MODEL_AUTH_REQUIRED");
    // Neither a holder nor staked: an outsider, and a registered node (registration is free).
    for (const who of [outsider, registered]) expect((await errorOf(anonymous.getModel(cid, modelAuthOf(who)))).code).toBe("MODEL_ACCESS_DENIED");
    // A staked contributor and a holder: the model, matching its CID.
    for (const who of [staker, holder]) {
      const bytes = await anonymous.getModel(cid, modelAuthOf(who));
      expect(await cidForBytes(bytes)).toBe(cid);
    }
    // A challenge works once: replaying the holder's signed header is refused.
    const challenge = await (await fetch(`${server.url}/jobs/1/challenge?purpose=infer`)).json();
    const signed = await modelAuthOf(holder).signChallenge(challenge);
    const header = Buffer.from(JSON.stringify(signed)).toString("base64url");
    expect((await fetch(`${server.url}/models/${cid}`, { headers: { "x-dat-challenge": header } })).status).toBe(200);
    const replay = await fetch(`${server.url}/models/${cid}`, { headers: { "x-dat-challenge": header } });
    expect(replay.status).toBe(403);
    expect(((await replay.json()) as { error: { code: string } }).error.code).toBe("CHALLENGE_REUSED");
    const garbage = await fetch(`${server.url}/models/${cid}`, { headers: { "x-dat-challenge": "%%%" } });
    expect(garbage.status).toBe(400);
    // The operator reads it with its token.
    expect(await cidForBytes(await operator.getModel(cid))).toBe(cid);
    // The registered node's CLI: exit 5 with the code.
    const pulled = await nodeDat(["model", "pull", "--job", "1"]);
    expect(pulled.code).toBe(5);
    expect(pulled.json.error.code).toBe("MODEL_ACCESS_DENIED");
  }, 90_000);

  it("serves an older database's gated job without a minimum stake to gate holders and the operator only", async () => {
    // Registered, even staked in another job: denied with its own code.
    for (const who of [registered, staker]) expect((await errorOf(anonymous.getModel(oldJobCid, modelAuthOf(who)))).code).toBe("MODEL_GATE_UNSTAKED");
    expect((await errorOf(anonymous.getModel(oldJobCid, modelAuthOf(outsider)))).code).toBe("MODEL_ACCESS_DENIED");
    expect(await cidForBytes(await anonymous.getModel(oldJobCid, modelAuthOf(holder)))).toBe(oldJobCid);
    expect(await cidForBytes(await operator.getModel(oldJobCid))).toBe(oldJobCid);
    const pulled = await nodeDat(["model", "pull", "--job", "2"]);
    expect(pulled.code).toBe(5);
    expect(pulled.json.error.code).toBe("MODEL_GATE_UNSTAKED");
    expect(pulled.json.error.hint).toContain("gate token");
    // Once it holds the gate token, the same CLI pull signs the challenge and gets the model.
    const funded = await dat(home, ["--json", "devnet", "fund", "--address", nodeAddress, "--eth", "1", "--tokens", "1"]);
    expect(funded.code, funded.stderr).toBe(0);
    const holderPull = await nodeDat(["model", "pull", "--job", "2"]);
    expect(holderPull.code, holderPull.stdout).toBe(0);
    expect(holderPull.json.cid).toBe(oldJobCid);
  }, 90_000);

  it("serves sealed deltas to the operator only", async () => {
    const { readModelBlob } = await import("../../src/orchestrator/modelBlob.js");
    const view = await readModelBlob(await operator.getModel(round.modelCid));
    const built = await buildSubmission({ account: staker, round, tensors: constantDelta(view, 0.1), sampleCount: 10 });
    await anonymous.submit(built.submission, built.sealed);
    const asAnyone = await fetch(`${server.url}/models/${built.submission.blobCid}`);
    expect(asAnyone.status).toBe(403);
    expect(((await asAnyone.json()) as { error: { code: string } }).error.code).toBe("SEALED_DELTA_PRIVATE");
    expect((await errorOf(anonymous.getModel(built.submission.blobCid, modelAuthOf(staker)))).code).toBe("SEALED_DELTA_PRIVATE");
    expect(Buffer.from(await operator.getModel(built.submission.blobCid)).equals(Buffer.from(built.sealed))).toBe(true);
  }, 30_000);

  it("shows no operator file path in the public job view", async () => {
    for (const url of [`${server.url}/jobs/2`, `${server.url}/jobs`]) {
      const text = await (await fetch(url)).text();
      expect(text).not.toContain(validationFile);
      expect(text).not.toContain(home);
    }
    expect((await anonymous.getJob(2)).validation).toEqual({ path: HIDDEN_PATH, labelColumn: "label" });
    expect((await operator.getJob(2)).validation?.path).toBe(validationFile);
  });
});
