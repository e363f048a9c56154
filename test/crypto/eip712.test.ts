import { hashTypedData } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";
import { DeniedError } from "../../src/core/errors.js";
import {
  SUBMISSION_TYPES, datDomain, hashMetrics, hashSubmission, signRegistration, signSubmission, verifyRegistration, verifySubmission,
  type SubmissionMessage,
} from "../../src/crypto/eip712.js";

const alice = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
const bob = privateKeyToAccount("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a");

async function submission(): Promise<SubmissionMessage> {
  return {
    jobId: 1n,
    round: 3,
    blobCid: "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4",
    sampleCount: 500,
    metricsHash: await hashMetrics({ loss: 0.25, accuracy: 0.9 }),
    modelFingerprint: `0x${"ab".repeat(32)}`,
  };
}

describe("EIP-712 submissions", () => {
  it("verifies a submission signed by the expected address (with and without chainId)", async () => {
    const msg = await submission();

    await expect(verifySubmission(msg, await signSubmission(alice, msg), alice.address)).resolves.toBeUndefined();
    await expect(verifySubmission(msg, await signSubmission(alice, msg, { chainId: 31337 }), alice.address, { chainId: 31337 })).resolves.toBeUndefined();
  });

  it("hashes metrics independently of key order", async () => {
    expect(await hashMetrics({ a: 1, b: 2 })).toBe(await hashMetrics({ b: 2, a: 1 }));
    expect(await hashMetrics({ a: 1, b: 2 })).not.toBe(await hashMetrics({ a: 1, b: 3 }));
  });

  it("fails on any tampered field, another signer, another chain, or a damaged signature", async () => {
    const msg = await submission();
    const sig = await signSubmission(alice, msg);
    const tampered: SubmissionMessage[] = [
      { ...msg, jobId: 2n },
      { ...msg, round: 4 },
      { ...msg, blobCid: msg.blobCid.replace("a", "b") },
      { ...msg, sampleCount: 501 },
      { ...msg, metricsHash: await hashMetrics({ loss: 0.1 }) },
      { ...msg, modelFingerprint: `0x${"cd".repeat(32)}` },
    ];
    for (const m of tampered) await expect(verifySubmission(m, sig, alice.address)).rejects.toMatchObject({ code: "SIGNATURE_MISMATCH" });
    await expect(verifySubmission(msg, sig, bob.address)).rejects.toBeInstanceOf(DeniedError);
    await expect(verifySubmission(msg, sig, alice.address, { chainId: 1 })).rejects.toMatchObject({ code: "SIGNATURE_MISMATCH" });
    for (const pos of [2, 40, 100, 129]) {
      const chars = sig.split("");
      chars[pos] = chars[pos] === "0" ? "1" : "0";
      await expect(verifySubmission(msg, chars.join("") as `0x${string}`, alice.address)).rejects.toBeInstanceOf(DeniedError);
    }
    await expect(verifySubmission(msg, "0x1234", alice.address)).rejects.toBeInstanceOf(DeniedError);
  });

  it("hashes a submission exactly as viem's generic EIP-712 hashing does", async () => {
    const base = await submission();
    const messages: SubmissionMessage[] = [
      base,
      { ...base, jobId: 0, round: 0, sampleCount: 0, blobCid: "" },
      { ...base, jobId: (1n << 256n) - 1n, round: 2n ** 64n + 3n, sampleCount: Number.MAX_SAFE_INTEGER },
      { ...base, blobCid: "QmΩ≈ç√∫ünïcødé 🙂", metricsHash: `0x${"FF".repeat(32)}`, modelFingerprint: `0x${"0".repeat(64)}` },
    ];
    for (const msg of messages) {
      for (const options of [{}, { chainId: 31337 }, { chainId: 1 }]) {
        const expected = hashTypedData({
          domain: datDomain(options), types: SUBMISSION_TYPES, primaryType: "Submission",
          message: { ...msg, jobId: BigInt(msg.jobId), round: BigInt(msg.round), sampleCount: BigInt(msg.sampleCount) },
        });

        expect(hashSubmission(msg, options)).toBe(expected);
      }
    }
    expect(() => hashSubmission({ ...base, jobId: 1n << 256n })).toThrow(/uint256/);
  });

  it("rejects a flipped recovery byte, a foreign signature and malformed r, s or v", async () => {
    const msg = await submission();
    const sig = await signSubmission(alice, msg);
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const r = sig.slice(2, 66);
    const s = sig.slice(66, 130);
    const v = parseInt(sig.slice(130), 16);
    const word = (x: bigint) => x.toString(16).padStart(64, "0");
    const flippedV = `0x${r}${s}${(v === 27 ? 28 : 27).toString(16)}` as const;
    const parityV = `0x${r}${s}${(v - 27).toString(16).padStart(2, "0")}` as const;
    const malformed = [
      `0x${word(0n)}${s}1b`, `0x${r}${word(0n)}1b`, `0x${word(n)}${s}1b`, `0x${r}${word(n + 1n)}1b`,
      `0x${r}${s}1d`, `0x${r}${s}02`, `0x${r}${s}`, `${sig}00`, "0x", "0xzz",
    ] as `0x${string}`[];

    await expect(verifySubmission(msg, parityV, alice.address)).resolves.toBeUndefined();
    await expect(verifySubmission(msg, flippedV, alice.address)).rejects.toMatchObject({ code: "SIGNATURE_MISMATCH" });
    await expect(verifySubmission(msg, await signSubmission(bob, msg), alice.address)).rejects.toMatchObject({ code: "SIGNATURE_MISMATCH" });
    for (const bad of malformed) {
      await expect(verifySubmission(msg, bad, alice.address), bad).rejects.toMatchObject({ code: "SIGNATURE_INVALID" });
    }
  });

  it("rejects malformed message fields before signing", async () => {
    const msg = await submission();
    await expect(signSubmission(alice, { ...msg, metricsHash: "0x12" })).rejects.toMatchObject({ code: "EIP712_BAD_MESSAGE" });
    await expect(signSubmission(alice, { ...msg, sampleCount: -1 })).rejects.toMatchObject({ code: "EIP712_BAD_MESSAGE" });
  });
});

describe("EIP-712 node registrations", () => {
  const reg = { node: alice.address, hardwareHash: `0x${"11".repeat(32)}` as const, backend: "wasm", timestamp: 1_700_000_000 };

  it("verifies a fresh registration and rejects stale, tampered or foreign ones", async () => {
    const sig = await signRegistration(alice, reg);

    await expect(verifyRegistration(reg, sig, { maxAgeSeconds: 300, nowSeconds: 1_700_000_100 })).resolves.toBeUndefined();
    await expect(verifyRegistration(reg, sig, { maxAgeSeconds: 300, nowSeconds: 1_700_001_000 })).rejects.toMatchObject({ code: "REGISTRATION_STALE" });
    await expect(verifyRegistration({ ...reg, backend: "gpu" }, sig)).rejects.toMatchObject({ code: "SIGNATURE_MISMATCH" });
    await expect(verifyRegistration({ ...reg, node: bob.address }, sig)).rejects.toMatchObject({ code: "SIGNATURE_MISMATCH" });
    await expect(verifyRegistration(reg, await signRegistration(bob, reg))).rejects.toMatchObject({ code: "SIGNATURE_MISMATCH" });
  });
});
