import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";
import { decodeDelta, encodeDelta, modelFingerprint } from "../../src/core/delta/index.js";
import { privatizeDelta, seededRandom } from "../../src/core/privacy/index.js";
import { hashMetrics, signSubmission, verifySubmission } from "../../src/crypto/eip712.js";
import { generateRoundKeyPair, openDelta, sealDelta } from "../../src/crypto/hpke.js";
import { openStore } from "../../src/store/index.js";
import { smallModelDelta } from "../core/delta/helpers.js";

const account = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");

describe("delta push path: encode → seal → put → get → open → decode", () => {
  it("is bit-exact for float32 and carries a verifiable signed submission", async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "dat-pipeline-"));
    const store = await openStore(home, { store: { kind: "local", lighthouse: { uploadUrl: "http://x", gatewayUrl: "http://x" } } });
    const tensors = smallModelDelta(5);
    const fingerprint = modelFingerprint(tensors);
    const round = await generateRoundKeyPair();
    const aad = { jobId: 1n, round: 1, contributor: account.address };

    const { bytes } = encodeDelta({ sampleCount: 64, tensors, fingerprint });
    const cid = await store.put(await sealDelta(bytes, round.publicKey, aad));
    const msg = { jobId: 1n, round: 1, blobCid: cid, sampleCount: 64, metricsHash: await hashMetrics({ loss: 0.5 }), modelFingerprint: fingerprint };
    const signature = await signSubmission(account, msg);

    await verifySubmission(msg, signature, account.address);
    const opened = await openDelta(await store.get(cid), round.privateKey, aad);
    const delta = decodeDelta(opened, { expectedFingerprint: fingerprint });

    expect(delta.sampleCount).toBe(64);
    delta.tensors.forEach((t, i) => expect(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(tensors[i].data.buffer))).toBe(true));
  });

  it("keeps lossy encodings within their bounds and clipped deltas within the job's norm", async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "dat-pipeline-"));
    const store = await openStore(home, { store: { kind: "local", lighthouse: { uploadUrl: "http://x", gatewayUrl: "http://x" } } });
    const round = await generateRoundKeyPair();
    const aad = { jobId: 3, round: 7, contributor: account.address };
    const raw = smallModelDelta(9, 0.5);
    const { arrays } = privatizeDelta(raw.map((t) => t.data), { clipNorm: 1, noiseMultiplier: 0, random: seededRandom(3) });
    const tensors = raw.map((t, i) => ({ ...t, data: arrays[i] }));

    for (const encoding of ["float16", "int8", "int8:256"]) {
      const { bytes } = encodeDelta({ sampleCount: 10, tensors }, { encoding });
      const cid = await store.put(await sealDelta(bytes, round.publicKey, aad));

      const delta = decodeDelta(await openDelta(await store.get(cid), round.privateKey, aad), { maxNorm: 1 });

      delta.tensors.forEach((t, i) => t.data.forEach((x, j) => expect(Math.abs(x - tensors[i].data[j])).toBeLessThan(0.01)));
    }
  });
});
