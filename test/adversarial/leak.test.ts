/**
 * Model leaks against a real `dat serve` on a real devnet (issue 13, "The gated model never leaves
 * the gate"): a gated job's model goes to gate holders and registered contributors who prove their
 * address with a signed challenge, to no one else; sealed deltas go to the operator only; the
 * public job view names no operator file.
 */
import fs from "node:fs";
import path from "node:path";
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildRegistration, buildSubmission } from "../../src/contributor/submission.js";
import { modelAuthOf } from "../../src/contributor/pull.js";
import { createHttpOrchestrator } from "../../src/orchestrator/http/client.js";
import type { Orchestrator, RoundInfo } from "../../src/orchestrator/types.js";
import { HIDDEN_PATH } from "../../src/server/orchestratorRoutes.js";
import { cidForBytes } from "../../src/store/cid.js";
import { BIN, ROOT, TEST_ENV, dat, exited, startServe } from "../orchestrator/cli.js";
import { account, constantDelta, jobInput, tempHome, tinyModel } from "../orchestrator/helpers.js";

/** `dat devnet --port 0` in `home`; resolves once its ready event is printed. */
function startDevnet(home: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, "--home", home, "--json", "devnet", "--port", "0"], { env: TEST_ENV, cwd: ROOT });
    let out = "";
    const timer = setTimeout(() => reject(new Error(`devnet not ready:\n${out}`)), 90_000);
    const onData = (d: Buffer) => {
      out += d;
      for (const line of out.split("\n").slice(0, -1)) {
        if (!line.startsWith("{")) continue;
        try {
          const doc = JSON.parse(line) as { event?: string; url?: string };
          if (doc.event === "ready" || doc.url) {
            clearTimeout(timer);
            resolve(child);
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

describe("model leaks against dat serve", () => {
  let home: string;
  let devnet: ChildProcess;
  let server: { url: string; child: ChildProcess };
  let operator: Orchestrator;
  let anonymous: Orchestrator;
  let round: RoundInfo;
  let validationFile: string;
  const contributor = account();
  const holder = account();
  const outsider = account();

  beforeAll(async () => {
    home = tempHome("dat-leak-");
    expect((await dat(home, ["init", "--json"])).code).toBe(0);
    devnet = await startDevnet(home);
    const funded = await dat(home, ["--json", "devnet", "fund", "--address", holder.address, "--eth", "1", "--tokens", "5"]);
    expect(funded.code, funded.stderr).toBe(0);
    server = await startServe(home);
    operator = createHttpOrchestrator({ url: server.url, operatorToken: TEST_ENV.DAT_OPERATOR_TOKEN, attempts: 1 });
    anonymous = createHttpOrchestrator({ url: server.url, attempts: 1 });
    validationFile = path.join(home, "secret-validation.csv");
    fs.writeFileSync(validationFile, "f0,label\n1,0\n");
    const { bytes } = await tinyModel();
    await operator.createJob(jobInput({ gateMin: "1000000000000000000", validationPath: validationFile, labelColumn: "label" }), bytes);
    round = await operator.openRound(1);
    await operator.registerNode(await buildRegistration(contributor, "cpu", { cpus: 2 }));
  }, 180_000);

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

  it("serves a gated job's model only after a signed challenge from a contributor or a holder", async () => {
    const cid = round.modelCid;
    // No proof at all: refused, with the job to sign for.
    const bare = await fetch(`${server.url}/models/${cid}`);
    expect(bare.status).toBe(403);
    const body = (await bare.json()) as { error: { code: string; data: { jobId: number } } };
    expect(body.error.code).toBe("MODEL_AUTH_REQUIRED");
    expect(body.error.data.jobId).toBe(1);
    expect((await errorOf(anonymous.getModel(cid))).code).toBe("MODEL_AUTH_REQUIRED");
    // An address that neither holds the token nor contributes: refused after the check.
    expect((await errorOf(anonymous.getModel(cid, modelAuthOf(outsider)))).code).toBe("MODEL_ACCESS_DENIED");
    // A registered contributor and a holder: the model, matching its CID.
    for (const who of [contributor, holder]) {
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
  }, 60_000);

  it("serves sealed deltas to the operator only", async () => {
    const { view } = await tinyModel();
    const built = await buildSubmission({ account: contributor, round, tensors: constantDelta(view, 0.1), sampleCount: 10 });
    await anonymous.submit(built.submission, built.sealed);
    const asAnyone = await fetch(`${server.url}/models/${built.submission.blobCid}`);
    expect(asAnyone.status).toBe(403);
    expect(((await asAnyone.json()) as { error: { code: string } }).error.code).toBe("SEALED_DELTA_PRIVATE");
    expect((await errorOf(anonymous.getModel(built.submission.blobCid, modelAuthOf(contributor)))).code).toBe("SEALED_DELTA_PRIVATE");
    expect(Buffer.from(await operator.getModel(built.submission.blobCid)).equals(Buffer.from(built.sealed))).toBe(true);
  }, 30_000);

  it("shows no operator file path in the public job view", async () => {
    for (const url of [`${server.url}/jobs/1`, `${server.url}/jobs`]) {
      const text = await (await fetch(url)).text();
      expect(text).not.toContain(validationFile);
      expect(text).not.toContain(home);
    }
    expect((await anonymous.getJob(1)).validation).toEqual({ path: HIDDEN_PATH, labelColumn: "label" });
    expect((await operator.getJob(1)).validation?.path).toBe(validationFile);
  });
});
