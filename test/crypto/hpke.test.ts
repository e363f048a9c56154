import { createDecipheriv } from "node:crypto";
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { describe, expect, it } from "vitest";
import { MalformedInputError } from "../../src/core/errors.js";
import {
  generateRoundKeyPair, importRoundPrivateKey, labeledExpand, openDelta, recipientExporterSecret, sealDelta,
} from "../../src/crypto/hpke.js";

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

  it("opens with a round key imported once as with the raw key, and refuses a low-order ephemeral key", async () => {
    const keys = await generateRoundKeyPair();
    const imported = importRoundPrivateKey(keys.privateKey);
    const pt = payload(3000);
    const sealed = await sealDelta(pt, keys.publicKey, aad, { chunkSize: 1024 });
    const lowOrder = sealed.slice();
    lowOrder.fill(0, 24, 56); // enc = the X25519 point 0: the shared secret would be all zeros

    const opened = await openDelta(sealed, imported, aad);

    expect(Buffer.from(imported.publicKey).equals(Buffer.from(keys.publicKey))).toBe(true);
    expect(Buffer.from(opened).equals(Buffer.from(pt))).toBe(true);
    expect(await codeOf(openDelta(lowOrder, imported, aad))).toBe("SEALED_AUTH_FAILED");
  });
});

describe("HPKE recipient context on node:crypto", () => {
  // RFC 9180 Appendix A.1.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, mode_base.
  const hex = (h: string) => Uint8Array.from(Buffer.from(h, "hex"));
  const vector = {
    info: "4f6465206f6e2061204772656369616e2055726e",
    skRm: "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8",
    pkRm: "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d",
    enc: "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431",
    exporterSecret: "45ff1c2e220db587171952c0592d5f5ebe103f1561a2614e38f2ffd47e99e3f8",
    exports: [
      ["", "3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee"],
      ["00", "2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5"],
      ["54657374436f6e74657874", "e9e43065102c3836401bed8c3c3c75ae46be1639869391d62c61f1ec7af54931"],
    ],
  };
  const suiteA1 = Uint8Array.from([0x48, 0x50, 0x4b, 0x45, 0x00, 0x20, 0x00, 0x01, 0x00, 0x01]); // "HPKE" ‖ 0x0020 ‖ 0x0001 ‖ 0x0001

  it("derives RFC 9180's exporter secret and exported values (test vector A.1.1)", () => {
    const recipient = importRoundPrivateKey(hex(vector.skRm));

    const exporterSecret = recipientExporterSecret(recipient, hex(vector.enc), { aeadId: 0x0001, info: hex(vector.info) });

    expect(Buffer.from(recipient.publicKey).toString("hex")).toBe(vector.pkRm);
    expect(exporterSecret.toString("hex")).toBe(vector.exporterSecret);
    for (const [context, value] of vector.exports) {
      expect(labeledExpand(suiteA1, exporterSecret, "sec", hex(context), 32).toString("hex")).toBe(value);
    }
  });

  it("agrees with @hpke/core on the export of contexts it sets up", async () => {
    const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });
    const info = new TextEncoder().encode("dat sealed delta v1");
    for (let i = 0; i < 5; i++) {
      const keys = await generateRoundKeyPair();
      const sender = await suite.createSenderContext({ recipientPublicKey: await suite.kem.deserializePublicKey(keys.publicKey.slice().buffer), info });
      const suiteId = Uint8Array.from([0x48, 0x50, 0x4b, 0x45, 0x00, 0x20, 0x00, 0x01, 0x00, 0x02]);

      const ours = labeledExpand(suiteId, recipientExporterSecret(importRoundPrivateKey(keys.privateKey), new Uint8Array(sender.enc)), "sec", info, 44);

      expect(ours.equals(Buffer.from(await sender.export(info.slice().buffer, 44)))).toBe(true);
    }
  });
});
