/**
 * The inference routes against a real Hardhat Network node: a holder of the gate token gets
 * predictions, a non-holder is denied with the numbers and, once tokens are transferred to it
 * and the balance cache has expired, gets predictions; bad requests get clear errors while the
 * server keeps serving others. One devnet for the file.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import Fastify, { type FastifyInstance, type InjectOptions } from "fastify";
import * as tf from "@tensorflow/tfjs";
import type Database from "better-sqlite3";
import { privateKeyToAccount, generatePrivateKey } from "viem/accounts";
import type { Address, LocalAccount } from "viem";
import type { Devnet } from "../../src/chain/devnet.js";
import type { ChainConnection } from "../../src/chain/clients.js";
import type { DeployedContracts } from "../../src/chain/deploy.js";
import { sendDat, startDeployedDevnet } from "../chain/helpers.js";
import { openDatabase } from "../../src/db/index.js";
import { insertJob, type NewJob } from "../../src/db/jobs.js";
import { saveJobEcon } from "../../src/db/econ.js";
import { loadConfig } from "../../src/config/index.js";
import type { DatConfig } from "../../src/config/schema.js";
import { openLocalStore } from "../../src/store/local.js";
import { packModel } from "../../src/train/modelIo.js";
import { inferRoutes } from "../../src/server/inferenceRoutes.js";
import { signChallenge, type ChallengeTypedData } from "../../src/inference/challenge.js";
import { decryptModelBlob, publishEncryptedModel } from "../../src/inference/modelKeys.js";

const TOKEN = 10n ** 18n;
let devnet: Devnet;
let operator: ChainConnection;
let contracts: DeployedContracts;
let home: string;
let db: Database.Database;
let config: DatConfig;
let app: FastifyInstance;
let holder: LocalAccount;
let newcomer: LocalAccount;
let modelBytes: Uint8Array;
const jobs = { gated: "", open: "", legacy: "", encrypted: "", copy: "" };
let copyCid = "";

function job(over: Partial<NewJob>, modelCid: string): NewJob {
  return {
    name: null, initialModelCid: modelCid, fingerprint: "0x00", rounds: 1, minContributors: 1, maxContributors: null,
    deadlineSeconds: 60, epochs: 1, batchSize: 8, lr: 0.01, optimizer: "sgd", strategy: "fedavg", strategyParams: {},
    dpClip: null, dpNoise: null, encoding: "float32", rewardPerRound: "0", validationPath: null, labelColumn: null,
    gateToken: null, gateMin: null, encryptModel: false, ...over,
  };
}

async function transfer(to: Address, amount: bigint) {
  await sendDat({ operator, contracts }, "transfer", to, amount);
}

async function challengeFor(jobId: string, purpose = "infer"): Promise<ChallengeTypedData> {
  const res = await app.inject({ method: "GET", url: `/jobs/${jobId}/challenge?purpose=${purpose}` });
  expect(res.statusCode).toBe(200);
  return res.json() as ChallengeTypedData;
}

async function infer(jobId: string, account: LocalAccount | undefined, body: Record<string, unknown> = { inputs: [[0.1, 0.2, 0.3, 0.4], [1, 0, 1, 0]] }) {
  const challenge = account ? await signChallenge(account, await challengeFor(jobId)) : undefined;
  return app.inject({ method: "POST", url: `/jobs/${jobId}/infer`, payload: { ...body, challenge } });
}

beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), "dat-infer-http-"));
  ({ devnet, operator, contracts } = await startDeployedDevnet({ accounts: 2, operatorTokens: 100n * TOKEN }));
  holder = privateKeyToAccount(generatePrivateKey());
  newcomer = privateKeyToAccount(generatePrivateKey());
  await transfer(holder.address, 2n * TOKEN);

  const loaded = await loadConfig({ home, env: {} });
  config = {
    ...loaded.values,
    chain: { ...loaded.values.chain, rpcUrl: devnet.url, deployments: { [String(devnet.chainId)]: { ...contracts } } },
    infer: { ...loaded.values.infer, balanceCacheSeconds: 1 },
  };
  db = openDatabase(home);
  const store = openLocalStore(home);
  const model = tf.sequential();
  model.add(tf.layers.dense({ inputShape: [4], units: 3, activation: "softmax" }));
  modelBytes = await packModel(model);
  const cid = await store.put(modelBytes);
  // Default gate of a job with a minimum stake (no gate minimum): the deployed token, one whole token.
  const gated = insertJob(db, job({}, cid));
  saveJobEcon(db, gated.id, { minStake: String(TOKEN), maxSamples: null });
  jobs.gated = String(gated.id);
  jobs.open = String(insertJob(db, job({ gateMin: "0" }, cid)).id);
  // A row with neither a gate minimum nor a stake (what older versions stored by default): public.
  jobs.legacy = String(insertJob(db, job({}, cid)).id);
  const encryptedJob = insertJob(db, job({ gateToken: contracts.token, gateMin: String(TOKEN), encryptModel: true }, cid));
  const published = await publishEncryptedModel(db, store, { jobId: String(encryptedJob.id), plain: modelBytes });
  db.prepare("UPDATE jobs SET initial_model_cid = ? WHERE id = ?").run(published.cid, encryptedJob.id);
  jobs.encrypted = String(encryptedJob.id);
  // An encrypted job that keeps its plain model (for contributors) and publishes an encrypted copy.
  const copyJob = insertJob(db, job({ encryptModel: true }, cid));
  jobs.copy = String(copyJob.id);
  copyCid = (await publishEncryptedModel(db, store, { jobId: jobs.copy, plain: modelBytes, plainCid: cid })).cid;

  app = Fastify();
  await app.register(inferRoutes, { db, store, config });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  db?.close();
  await devnet?.stop();
  fs.rmSync(home, { recursive: true, force: true });
});

describe("POST /jobs/:id/infer", () => {
  it("answers a holder with a class and probabilities per input", async () => {
    const res = await infer(jobs.gated, holder);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.address).toBe(holder.address);
    expect(body.predictions).toHaveLength(2);
    for (const p of body.predictions) {
      expect(p.probabilities).toHaveLength(3);
      expect(p.probabilities.reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 4);
      expect(p.class).toBe(String(p.classIndex));
    }
  });

  it("denies a non-holder with the address, the token, the balance held and required; after a transfer it answers", async () => {
    const denied = await infer(jobs.gated, newcomer);
    expect(denied.statusCode).toBe(403);
    const { error } = denied.json();
    expect(error.code).toBe("GATE_INSUFFICIENT_BALANCE");
    expect(error.message).toContain(newcomer.address);
    expect(error.message).toContain(contracts.token);
    expect(error.message).toContain("holds 0 DAT");
    expect(error.message).toContain("at least 1 DAT");
    expect(error.data).toMatchObject({ address: newcomer.address, token: contracts.token, held: "0", required: String(TOKEN), decimals: 18 });

    await transfer(newcomer.address, TOKEN);
    // The balance is cached for a second: poll until the new one is read, with a deadline.
    const deadline = Date.now() + 30_000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (await infer(jobs.gated, newcomer)).statusCode;
      if (status === 200) break;
      expect(status).toBe(403);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
  });

  it("serves a public job without any proof", async () => {
    const res = await infer(jobs.open, undefined);
    expect(res.statusCode).toBe(200);
    expect(res.json().address).toBeUndefined();
  });

  it("serves a job with neither a gate minimum nor a stake without any proof: the default gate follows the stake", async () => {
    const res = await infer(jobs.legacy, undefined);
    expect(res.statusCode).toBe(200);
    expect(res.json().address).toBeUndefined();
    // The same job with a stake is gated: no proof, no answer.
    const gated = await infer(jobs.gated, undefined);
    expect(gated.statusCode).toBe(401);
  });

  it("refuses reused challenges, signatures by another address and missing proofs, and keeps serving", async () => {
    const signed = await signChallenge(holder, await challengeFor(jobs.gated));
    const first = await app.inject({ method: "POST", url: `/jobs/${jobs.gated}/infer`, payload: { challenge: signed, inputs: [1, 2, 3, 4] } });
    expect(first.statusCode).toBe(200);
    const reused = await app.inject({ method: "POST", url: `/jobs/${jobs.gated}/infer`, payload: { challenge: signed, inputs: [1, 2, 3, 4] } });
    expect(reused.statusCode).toBe(403);
    expect(reused.json().error.code).toBe("CHALLENGE_REUSED");

    const forged = { ...(await signChallenge(newcomer, await challengeFor(jobs.gated))), address: holder.address };
    const bad = await app.inject({ method: "POST", url: `/jobs/${jobs.gated}/infer`, payload: { challenge: forged, inputs: [1, 2, 3, 4] } });
    expect(bad.statusCode).toBe(403);
    expect(bad.json().error.code).toBe("CHALLENGE_BAD_SIGNATURE");

    const none = await app.inject({ method: "POST", url: `/jobs/${jobs.gated}/infer`, payload: { inputs: [1, 2, 3, 4] } });
    expect(none.statusCode).toBe(401);
    expect(none.json().error.code).toBe("AUTH_REQUIRED");

    expect((await infer(jobs.gated, holder)).statusCode).toBe(200);
  });

  it("answers every malformed request with a clear error, and keeps serving", async () => {
    const cases: { req: InjectOptions; status: number; code: string }[] = [
      { req: { method: "POST", url: `/jobs/${jobs.open}/infer`, payload: "{not json", headers: { "content-type": "application/json" } }, status: 400, code: "BODY_MALFORMED" },
      { req: { method: "POST", url: `/jobs/${jobs.open}/infer`, payload: "[1,2]", headers: { "content-type": "application/json" } }, status: 400, code: "BODY_MALFORMED" },
      { req: { method: "POST", url: `/jobs/${jobs.open}/infer`, payload: "<a/>", headers: { "content-type": "application/xml" } }, status: 415, code: "BODY_UNSUPPORTED_TYPE" },
      { req: { method: "POST", url: `/jobs/${jobs.open}/infer`, payload: { inputs: [1, 2, 3] } }, status: 400, code: "INPUT_SHAPE" },
      { req: { method: "POST", url: `/jobs/${jobs.open}/infer`, payload: { inputs: [[1, 2, 3, "x"]] } }, status: 400, code: "INPUT_MALFORMED" },
      { req: { method: "POST", url: `/jobs/${jobs.open}/infer`, payload: {} }, status: 400, code: "INPUT_EMPTY" },
      { req: { method: "POST", url: `/jobs/${jobs.open}/infer`, payload: { files: [{ format: "csv", data: "a,b\n1,2\n" }] } }, status: 400, code: "INPUT_SHAPE" },
      { req: { method: "POST", url: `/jobs/${jobs.open}/infer`, payload: { files: [{ format: "bmp", data: "" }] } }, status: 400, code: "BODY_MALFORMED" },
      { req: { method: "POST", url: `/jobs/${jobs.open}/infer`, payload: { inputs: new Array(config.infer.bodyLimitBytes).fill(0) } }, status: 413, code: "BODY_TOO_LARGE" },
      { req: { method: "POST", url: `/jobs/abc/infer`, payload: { inputs: [1, 2, 3, 4] } }, status: 400, code: "BAD_JOB_ID" },
      { req: { method: "POST", url: `/jobs/999/infer`, payload: { inputs: [1, 2, 3, 4] } }, status: 404, code: "JOB_NOT_FOUND" },
      { req: { method: "GET", url: `/jobs/999/challenge` }, status: 404, code: "JOB_NOT_FOUND" },
      { req: { method: "GET", url: `/jobs/${jobs.gated}/challenge?purpose=steal` }, status: 400, code: "BODY_MALFORMED" },
      { req: { method: "POST", url: `/jobs/${jobs.gated}/infer`, payload: { challenge: { address: "0x1" }, inputs: [1, 2, 3, 4] } }, status: 400, code: "CHALLENGE_MALFORMED" },
      { req: { method: "POST", url: `/jobs/${jobs.gated}/infer`, payload: { inputs: [1, 2, 3, 4] }, headers: { authorization: "Basic abc" } }, status: 403, code: "SESSION_INVALID" },
      { req: { method: "POST", url: `/jobs/${jobs.gated}/infer`, payload: { inputs: [1, 2, 3, 4] }, headers: { authorization: "Bearer abc.def" } }, status: 403, code: "SESSION_INVALID" },
    ];
    for (const { req, status, code } of cases) {
      const res = await app.inject(req);
      expect(res.statusCode, `${req.url} ${String(req.payload).slice(0, 40)}`).toBe(status);
      expect(res.json().error.code).toBe(code);
      expect(res.json().error.message).toBeTruthy();
    }
    expect((await infer(jobs.open, undefined, { files: [{ format: "csv", data: "a,b,c,d\n1,2,3,4\n" }] })).statusCode).toBe(200);
  });
});

describe("sessions", () => {
  it("trades a signed challenge for a token that serves later requests of that job only", async () => {
    const signed = await signChallenge(holder, await challengeFor(jobs.gated));
    const opened = await app.inject({ method: "POST", url: `/jobs/${jobs.gated}/session`, payload: { challenge: signed } });
    expect(opened.statusCode).toBe(200);
    const { token, address } = opened.json();
    expect(address).toBe(holder.address);
    for (let i = 0; i < 3; i++) {
      const res = await app.inject({ method: "POST", url: `/jobs/${jobs.gated}/infer`, payload: { inputs: [1, 2, 3, 4] }, headers: { authorization: `Bearer ${token}` } });
      expect(res.statusCode).toBe(200);
    }
    const other = await app.inject({ method: "POST", url: `/jobs/${jobs.encrypted}/infer`, payload: { inputs: [1, 2, 3, 4] }, headers: { authorization: `Bearer ${token}` } });
    expect(other.json().error.code).toBe("SESSION_WRONG_JOB");
    const tampered = token.replace(/^./, (c: string) => (c === "e" ? "f" : "e"));
    const res = await app.inject({ method: "POST", url: `/jobs/${jobs.gated}/infer`, payload: { inputs: [1, 2, 3, 4] }, headers: { authorization: `Bearer ${tampered}` } });
    expect(res.json().error.code).toBe("SESSION_INVALID");
  });

  it("refuses a token after its expiry even once it has served requests", async () => {
    const signed = await signChallenge(holder, await challengeFor(jobs.gated));
    const { token, expiresAt } = (await app.inject({ method: "POST", url: `/jobs/${jobs.gated}/session`, payload: { challenge: signed } })).json();
    const call = () => app.inject({ method: "POST", url: `/jobs/${jobs.gated}/infer`, payload: { inputs: [1, 2, 3, 4] }, headers: { authorization: `Bearer ${token}` } });
    expect((await call()).statusCode).toBe(200);
    vi.setSystemTime((expiresAt + 1) * 1000);
    try {
      expect((await call()).json().error.code).toBe("SESSION_EXPIRED");
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("POST /jobs/:id/model-key", () => {
  it("releases the key of an encrypted model to a holder only, and serves the encrypted model", async () => {
    const signed = await signChallenge(holder, await challengeFor(jobs.encrypted, "model-key"));
    const res = await app.inject({ method: "POST", url: `/jobs/${jobs.encrypted}/model-key`, payload: { challenge: signed } });
    expect(res.statusCode).toBe(200);
    const { key, modelCid } = res.json();
    const store = openLocalStore(home);
    expect(decryptModelBlob(await store.get(modelCid), Buffer.from(key, "base64"))).toEqual(modelBytes);

    const stranger = privateKeyToAccount(generatePrivateKey());
    const deniedSigned = await signChallenge(stranger, await challengeFor(jobs.encrypted, "model-key"));
    const denied = await app.inject({ method: "POST", url: `/jobs/${jobs.encrypted}/model-key`, payload: { challenge: deniedSigned } });
    expect(denied.statusCode).toBe(403);
    expect(denied.json().error.code).toBe("GATE_INSUFFICIENT_BALANCE");

    // An infer challenge cannot fetch a key.
    const wrongPurpose = await signChallenge(holder, await challengeFor(jobs.encrypted));
    const mismatch = await app.inject({ method: "POST", url: `/jobs/${jobs.encrypted}/model-key`, payload: { challenge: wrongPurpose } });
    expect(mismatch.json().error.code).toBe("CHALLENGE_MISMATCH");

    expect((await infer(jobs.encrypted, holder)).statusCode).toBe(200);
    const copy = await app.inject({ method: "POST", url: `/jobs/${jobs.copy}/model-key`, payload: { challenge: await signChallenge(holder, await challengeFor(jobs.copy, "model-key")) } });
    expect(copy.statusCode).toBe(200);
    expect(copy.json().modelCid).toBe(copyCid);
    const plain = await app.inject({ method: "POST", url: `/jobs/${jobs.gated}/model-key`, payload: { challenge: await signChallenge(holder, await challengeFor(jobs.gated, "model-key")) } });
    expect(plain.json().error.code).toBe("MODEL_NOT_ENCRYPTED");
  });
});

describe("rate limit", () => {
  it("limits each address on its own", async () => {
    const limited = Fastify();
    await limited.register(inferRoutes, { db, store: openLocalStore(home), config: { ...config, infer: { ...config.infer, rateLimitPerMinute: 2 } } });
    // Challenges come from the main app: both instances share the database (its nonces).
    const call = async (account: LocalAccount) => {
      const c = await challengeFor(jobs.gated);
      return limited.inject({ method: "POST", url: `/jobs/${jobs.gated}/infer`, payload: { challenge: await signChallenge(account, c), inputs: [1, 2, 3, 4] } });
    };
    expect((await call(holder)).statusCode).toBe(200);
    expect((await call(holder)).statusCode).toBe(200);
    const third = await call(holder);
    expect(third.statusCode).toBe(429);
    expect(third.json().error.code).toBe("RATE_LIMITED");
    expect((await call(newcomer)).statusCode).toBe(200);
    await limited.close();
  });
});
