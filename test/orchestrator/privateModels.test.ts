/**
 * Private models are encrypted at rest (issue 13, "the gated model never leaves the gate"): for an
 * `--encrypt-model` job and for a gated job (gate minimum > 0), neither the initial model nor a
 * round's global model sits in plaintext in the home's blob store — no blob equals the model or
 * contains a run of its weights' bytes — while the orchestrator still reads them under their
 * plaintext CIDs (contributors train them, rounds and the chain name them). The same holds for what
 * is uploaded to Lighthouse (its local double, test/store/fakeLighthouse.ts). A public job is the
 * control: its models are found in plaintext by the same scan.
 */
import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createEmbeddedOrchestrator, type EmbeddedOrchestrator } from "../../src/orchestrator/embedded.js";
import { buildRegistration, buildSubmission } from "../../src/contributor/submission.js";
import { readModelBlob } from "../../src/orchestrator/modelBlob.js";
import { cidForBytes } from "../../src/store/cid.js";
import { isEncryptedModelBlob } from "../../src/inference/modelKeys.js";
import type { CreateJobInput } from "../../src/orchestrator/types.js";
import type { StakeOracle } from "../../src/orchestrator/stake.js";
import { account, constantDelta, jobInput, tempHome, tinyModel } from "./helpers.js";
import { startFakeLighthouse } from "../store/fakeLighthouse.js";

const LIGHTHOUSE_KEY = "test-key-0123456789";

/** Every blob file of the home's local store. */
function storedBlobs(home: string): Buffer[] {
  const root = path.join(home, "blobs");
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => fs.readFileSync(path.join(e.parentPath, e.name)));
}

/** Whether any stored blob is the model, or holds 256 bytes from the middle of its weights. */
async function storedInPlaintext(home: string, model: Uint8Array): Promise<boolean> {
  return containsModel(storedBlobs(home), model);
}

async function containsModel(blobs: Buffer[], model: Uint8Array): Promise<boolean> {
  const { weights } = await readModelBlob(model);
  const bytes = Buffer.from(weights.buffer, weights.byteOffset, weights.byteLength);
  const middle = Math.floor(bytes.length / 2) & ~3;
  const run = bytes.subarray(middle, middle + 256);
  expect(run.length).toBe(256);
  return blobs.some((blob) => blob.equals(Buffer.from(model)) || blob.includes(run));
}

/** Creates a job, runs one round with two contributors and returns the initial and global models. */
async function oneRound(orch: EmbeddedOrchestrator, input: Partial<CreateJobInput>): Promise<{ initial: Uint8Array; global: Uint8Array; cid: string }> {
  const { bytes, view } = await tinyModel();
  const job = await orch.createJob(jobInput({ minContributors: 2, ...input }), bytes);
  const round = await orch.openRound(job.id);
  for (const [i, who] of [account(), account()].entries()) {
    await orch.registerNode(await buildRegistration(who, "cpu", { cpu: "test" }));
    const built = await buildSubmission({ account: who, round, tensors: constantDelta(view, 0.01 * (i + 1)), sampleCount: 4 });
    await orch.submit(built.submission, built.sealed);
  }
  const closed = await orch.closeRound(job.id);
  expect(closed.state).toBe("published");
  // The orchestrator reads both under their plaintext CIDs, checked against them.
  const initial = await orch.getModel(job.initialModelCid);
  const global = await orch.getModel(closed.modelCid!);
  expect(await cidForBytes(initial)).toBe(job.initialModelCid);
  expect(await cidForBytes(global)).toBe(closed.modelCid);
  expect(Buffer.from(initial).equals(Buffer.from(bytes))).toBe(true);
  expect(isEncryptedModelBlob(global)).toBe(false);
  // The next round's base is the plaintext CID, readable for contributors.
  expect((await orch.openRound(job.id)).modelCid).toBe(closed.modelCid);
  return { initial, global, cid: closed.modelCid! };
}

describe("private models are encrypted at rest", () => {
  let home: string;
  let orch: EmbeddedOrchestrator | undefined;
  afterEach(async () => {
    await orch?.close();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it("--encrypt-model keeps no plaintext copy of the initial or the global model", async () => {
    home = tempHome();
    orch = await createEmbeddedOrchestrator({ home });
    const { initial, global } = await oneRound(orch, { encryptModel: true, gateMin: "0" });
    expect(await storedInPlaintext(home, initial)).toBe(false);
    expect(await storedInPlaintext(home, global)).toBe(false);
    // What is stored of them is ciphertext, with a key in the key service's table.
    expect(storedBlobs(home).filter((b) => isEncryptedModelBlob(b))).toHaveLength(2);
    // Consumers (dat infer through the key service) get the encrypted copy and its key: it opens to the model.
    const { resolveInferenceJob } = await import("../../src/inference/jobs.js");
    const { decryptModelBlob, lookupModelKey } = await import("../../src/inference/modelKeys.js");
    const served = resolveInferenceJob(orch!.db, "1", {} as never, undefined).modelCid;
    const opened = decryptModelBlob(await orch!.store.get(served), lookupModelKey(orch!.db, "1", served)!);
    expect(Buffer.from(opened).equals(Buffer.from(global))).toBe(true);
  });

  it("a gated job (gate minimum > 0) keeps no plaintext copy either", async () => {
    home = tempHome();
    // A gated job needs a minimum stake; the chain's answer: every address holds 10 base units.
    const everyoneStaked: StakeOracle = {
      opening: async () => ({ block: 1n, minStake: 10n }),
      stakesAt: async (_job, addresses) => ({ stakes: new Map(addresses.map((a) => [a.toLowerCase(), 10n])) }),
    };
    orch = await createEmbeddedOrchestrator({ home, staking: everyoneStaked });
    const { initial, global } = await oneRound(orch, { gateMin: "1000000000000000000", minStake: "10" });
    expect(await storedInPlaintext(home, initial)).toBe(false);
    expect(await storedInPlaintext(home, global)).toBe(false);
  });

  it("uploads only ciphertext to Lighthouse and reads the model back from its gateway", async () => {
    const fake = await startFakeLighthouse([LIGHTHOUSE_KEY]);
    try {
      home = tempHome();
      orch = await createEmbeddedOrchestrator({
        home, config: { store: { kind: "lighthouse", lighthouse: { uploadUrl: fake.url, gatewayUrl: fake.url, apiKey: LIGHTHOUSE_KEY } } },
      });
      const { initial, global } = await oneRound(orch, { encryptModel: true, gateMin: "0" });
      const uploaded = [...fake.files.values()].map((b) => Buffer.from(b));
      expect(uploaded.filter((b) => isEncryptedModelBlob(b))).toHaveLength(2);
      expect(await containsModel(uploaded, initial)).toBe(false);
      expect(await containsModel(uploaded, global)).toBe(false);
      expect(storedBlobs(home)).toEqual([]);
    } finally {
      await orch?.close();
      orch = undefined;
      await fake.close();
    }
  });

  it("a public job's models are stored in plaintext (the scan finds them)", async () => {
    home = tempHome();
    orch = await createEmbeddedOrchestrator({ home });
    const { initial, global } = await oneRound(orch, { gateMin: "0" });
    expect(await storedInPlaintext(home, initial)).toBe(true);
    expect(await storedInPlaintext(home, global)).toBe(true);
  });

  it("refuses to hand out a private model whose encrypted copy was altered", async () => {
    home = tempHome();
    orch = await createEmbeddedOrchestrator({ home });
    const { cid } = await oneRound(orch, { encryptModel: true, gateMin: "0" });
    const { getModelKeyByPlainCid } = await import("../../src/db/challenges.js");
    const copy = getModelKeyByPlainCid(orch.db, cid)!;
    const file = fs.readdirSync(path.join(home, "blobs"), { recursive: true, withFileTypes: true }).find((e) => e.name === copy.modelCid)!;
    const target = path.join(file.parentPath, file.name);
    const bytes = fs.readFileSync(target);
    bytes[bytes.length - 20] ^= 1;
    fs.writeFileSync(target, bytes);
    await expect(orch.getModel(cid)).rejects.toMatchObject({ code: "BLOB_CORRUPT" });
  });
});
