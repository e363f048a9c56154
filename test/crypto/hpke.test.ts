import { createDecipheriv } from "node:crypto";
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { describe, expect, it } from "vitest";
import { MalformedInputError } from "../../src/core/errors.js";
import { generateRoundKeyPair, openDelta, sealDelta } from "../../src/crypto/hpke.js";

const contributor = "0x1111111111111111111111111111111111111111";
const aad = { jobId: 1, round: 2, contributor };

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (error) {
    expect(error).toBeInstanceOf(MalformedInputError);
    return (error as MalformedInputError).code;
  }
  throw new Error("expected a MalformedInputError");
}

function payload(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

describe("HPKE sealing of deltas", () => {
  it("round-trips with raw 32-byte keys, in one chunk and in many", async () => {
    const keys = await generateRoundKeyPair();
    expect(keys.publicKey.length).toBe(32);
    expect(keys.privateKey.length).toBe(32);
    for (const [size, chunkSize] of [[0, 1024], [100, 1024], [5000, 1024], [4096, 1024]] as const) {
      const pt = payload(size);

      const sealed = await sealDelta(pt, keys.publicKey, aad, { chunkSize });
      const opened = await openDelta(sealed, keys.privateKey, { jobId: 1n, round: 2, contributor: contributor.toUpperCase().replace("0X", "0x") });

      expect(Buffer.from(opened).equals(Buffer.from(pt))).toBe(true);
    }
  });

  it("detects a flip of any byte of the sealed blob", async () => {
    const keys = await generateRoundKeyPair();
    const sealed = await sealDelta(payload(1030), keys.publicKey, aad, { chunkSize: 1024 });
    for (let i = 0; i < sealed.length; i++) {
      const bad = sealed.slice();
      bad[i] ^= 0x01;

      const code = await codeOf(openDelta(bad, keys.privateKey, aad));

      expect(["SEALED_AUTH_FAILED", "SEALED_BAD_MAGIC", "SEALED_UNSUPPORTED", "SEALED_SIZE_MISMATCH"]).toContain(code);
    }
  });

  it("refuses another job, round or contributor (no replay) and another key", async () => {
    const keys = await generateRoundKeyPair();
    const other = await generateRoundKeyPair();
    const sealed = await sealDelta(payload(2000), keys.publicKey, aad);

    expect(await codeOf(openDelta(sealed, keys.privateKey, { ...aad, jobId: 2 }))).toBe("SEALED_AUTH_FAILED");
    expect(await codeOf(openDelta(sealed, keys.privateKey, { ...aad, round: 3 }))).toBe("SEALED_AUTH_FAILED");
    expect(await codeOf(openDelta(sealed, keys.privateKey, { ...aad, contributor: "0x2222222222222222222222222222222222222222" }))).toBe("SEALED_AUTH_FAILED");
    expect(await codeOf(openDelta(sealed, other.privateKey, aad))).toBe("SEALED_AUTH_FAILED");
  });

  it("refuses truncation, extension, chunk reordering and non-blobs", async () => {
    const keys = await generateRoundKeyPair();
    const sealed = await sealDelta(payload(4096), keys.publicKey, aad, { chunkSize: 1024 });
    const extended = new Uint8Array(sealed.length + 1);
    extended.set(sealed);
    const swapped = sealed.slice();
    swapped.set(sealed.subarray(56, 56 + 1040), 56 + 1040);
    swapped.set(sealed.subarray(56 + 1040, 56 + 2080), 56);

    expect(await codeOf(openDelta(sealed.subarray(0, sealed.length - 1040), keys.privateKey, aad))).toBe("SEALED_SIZE_MISMATCH");
    expect(await codeOf(openDelta(extended, keys.privateKey, aad))).toBe("SEALED_SIZE_MISMATCH");
    expect(await codeOf(openDelta(swapped, keys.privateKey, aad))).toBe("SEALED_AUTH_FAILED");
    expect(await codeOf(openDelta(new Uint8Array(0), keys.privateKey, aad))).toBe("SEALED_SIZE_MISMATCH");
    expect(await codeOf(openDelta(new TextEncoder().encode("not a sealed delta at all, just some text here......."), keys.privateKey, aad))).toBe("SEALED_BAD_MAGIC");
  });

  it("rejects malformed keys and associated data with usage errors", async () => {
    const keys = await generateRoundKeyPair();
    await expect(sealDelta(payload(10), new Uint8Array(31), aad)).rejects.toMatchObject({ code: "SEAL_BAD_KEY" });
    await expect(sealDelta(payload(10), keys.publicKey, { ...aad, contributor: "0x123" })).rejects.toMatchObject({ code: "SEAL_BAD_AAD" });
    await expect(sealDelta(payload(10), keys.publicKey, { ...aad, round: -1 })).rejects.toMatchObject({ code: "SEAL_BAD_AAD" });
  });

  it("encrypts chunks with AES-256-GCM under the HPKE context's exported key and nonce (RFC 9180 §5.3)", async () => {
    const keys = await generateRoundKeyPair();
    const pt = payload(3000);
    const sealed = await sealDelta(pt, keys.publicKey, aad, { chunkSize: 1024 });
    const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });
    const ctx = await suite.createRecipientContext({
      recipientKey: await suite.kem.deserializePrivateKey(keys.privateKey.slice().buffer),
      enc: sealed.slice(24, 56).buffer,
      info: new TextEncoder().encode("dat sealed delta v1").buffer,
    });

    const secret = Buffer.from(await ctx.export(new TextEncoder().encode("dat-delta-aead-v2").buffer, 44));
    const nonce = Buffer.from(secret.subarray(32));
    nonce[11] ^= 2; // chunk index 2 (the last one), as HPKE's ComputeNonce
    const aadOfLast = Buffer.concat([
      sealed.subarray(0, 56),
      Buffer.from("dat-delta-aad-v2"),
      Buffer.alloc(31), Buffer.from([1]), // job 1
      Buffer.alloc(31), Buffer.from([2]), // round 2
      Buffer.from(contributor.slice(2), "hex"),
      Buffer.from([0, 0, 0, 0, 0, 0, 0, 2]), Buffer.from([1]), // chunk index, final flag
    ]);
    const at = 56 + 2 * (1024 + 16);
    const decipher = createDecipheriv("aes-256-gcm", secret.subarray(0, 32), nonce, { authTagLength: 16 });
    decipher.setAAD(aadOfLast);
    decipher.setAuthTag(sealed.subarray(at + 952));
    const last = Buffer.concat([decipher.update(sealed.subarray(at, at + 952)), decipher.final()]);

    expect(last.equals(Buffer.from(pt.subarray(2048)))).toBe(true);
  });
});
