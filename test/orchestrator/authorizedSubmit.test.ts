/**
 * A submission authorized from its header (dat serve: authorizeSubmission before the body) is
 * submitted with what was checked then: its signature is verified once, a change to the caller's
 * object afterwards counts for nothing, another object goes through every check, and what may
 * change while the body arrives (the round stops collecting) is still checked at commit.
 */
import fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { createEmbeddedOrchestrator, type EmbeddedOrchestrator } from "../../src/orchestrator/embedded.js";
import { buildServer } from "../../src/server/app.js";
import { createHttpOrchestrator } from "../../src/orchestrator/http/client.js";
import { buildRegistration, buildSubmission } from "../../src/contributor/submission.js";
import type { OrchestratorDeps } from "../../src/orchestrator/deps.js";
import type { RoundInfo, SignedSubmission } from "../../src/orchestrator/types.js";
import { account, codeOf, constantDelta, jobInput, tempHome, tinyModel } from "./helpers.js";

const TOKEN = "operator-token-for-tests-0123456789";
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** An embedded orchestrator with a job, an open round and `nodes` registered accounts; counts signature checks. */
async function setup(nodes: number): Promise<{ orch: EmbeddedOrchestrator; round: RoundInfo; accounts: ReturnType<typeof account>[]; verified: () => number }> {
  const home = tempHome("dat-authorized-");
  const orch = await createEmbeddedOrchestrator({ home });
  cleanups.push(async () => {
    await orch.close();
    fs.rmSync(home, { recursive: true, force: true });
  });
  // The real check, counted: the orchestrator's dependencies are a shared object, so wrap a copy.
  const deps = (orch as unknown as { deps: OrchestratorDeps }).deps;
  let calls = 0;
  (orch as unknown as { deps: OrchestratorDeps }).deps = {
    ...deps,
    verifySubmission: (s) => {
      calls++;
      return deps.verifySubmission(s);
    },
  };
  const { bytes } = await tinyModel();
  const job = await orch.createJob(jobInput({ minContributors: 1 }), bytes);
  const accounts = Array.from({ length: nodes }, () => account());
  for (const a of accounts) await orch.registerNode(await buildRegistration(a, "cpu", {}));
  const round = await orch.openRound(job.id);
  return { orch, round, accounts, verified: () => calls };
}

describe("submissions authorized before their body", () => {
  it("over HTTP, verifies each submission's signature once and still refuses a forged one", async () => {
    const { orch, round, accounts, verified } = await setup(3);
    const app = await buildServer({ orchestrator: orch, operatorToken: TOKEN });
    const url = await app.listen({ host: "127.0.0.1", port: 0 });
    const client = createHttpOrchestrator({ url, attempts: 1 });
    cleanups.push(async () => {
      await client.close();
      await app.close();
    });
    const { view } = await tinyModel();
    for (const [i, a] of accounts.slice(0, 2).entries()) {
      const built = await buildSubmission({ account: a, round, tensors: constantDelta(view, 0.1 * (i + 1)), sampleCount: 10 + i });
      expect(await client.submit(built.submission, built.sealed)).toMatchObject({ accepted: i + 1 });
    }
    expect(verified()).toBe(2);
    // Signed by the third account, claimed for the first: refused from the header.
    const forged = await buildSubmission({ account: accounts[2], round, tensors: constantDelta(view, 0.1), sampleCount: 10 });
    const claimed = { ...forged.submission, address: accounts[0].address.toLowerCase() as `0x${string}` };
    expect(await codeOf(client.submit(claimed, forged.sealed))).toMatch(/^SIGNATURE_/);
    const status = await orch.roundStatus(round.jobId, round.round);
    expect(status.submissions.map((s) => s.sampleCount).sort()).toEqual([10, 11]);
  });

  it("stores what was authorized, not the caller's object changed afterwards", async () => {
    const { orch, round, accounts, verified } = await setup(1);
    const { view } = await tinyModel();
    const built = await buildSubmission({ account: accounts[0], round, tensors: constantDelta(view, 0.1), sampleCount: 10 });
    const submission: SignedSubmission = { ...built.submission };
    await orch.authorizeSubmission(submission, built.sealed.length);
    submission.sampleCount = 1_000_000;
    submission.metricsHash = `0x${"ee".repeat(32)}`;
    const receipt = await orch.submit(submission, built.sealed);
    expect(receipt).toMatchObject({ accepted: 1, blobCid: built.submission.blobCid });
    expect(verified()).toBe(1);
    const status = await orch.roundStatus(round.jobId, round.round);
    expect(status.submissions).toHaveLength(1);
    expect(status.submissions[0].sampleCount).toBe(10);
  });

  it("checks another object in full, and the round's state again at commit", async () => {
    const { orch, round, accounts, verified } = await setup(2);
    const { view } = await tinyModel();
    const genuine = await buildSubmission({ account: accounts[0], round, tensors: constantDelta(view, 0.1), sampleCount: 10 });
    await orch.authorizeSubmission(genuine.submission, genuine.sealed.length);
    // A copy of the authorized submission with a field changed after signing: checked in full, refused.
    const altered = { ...genuine.submission, sampleCount: 11 };
    expect(await codeOf(orch.submit(altered, genuine.sealed))).toBe("SIGNATURE_MISMATCH");
    expect(verified()).toBe(2);

    // Authorized while the round collected; the round failed before the body came.
    const late = await buildSubmission({ account: accounts[1], round, tensors: constantDelta(view, 0.2), sampleCount: 12 });
    await orch.authorizeSubmission(late.submission, late.sealed.length);
    await orch.failRound(round.jobId, "operator stopped it");
    expect(await codeOf(orch.submit(late.submission, late.sealed))).toBe("SUBMISSION_WRONG_ROUND");
    expect((await orch.roundStatus(round.jobId, round.round)).submissions).toHaveLength(0);
  });
});
