import { randomBytes } from "node:crypto";
import type { Hex } from "viem";
import { generatePrivateKey, privateKeyToAccount, sign } from "viem/accounts";
import { describe, expect, it } from "vitest";
import {
  MalformedSignatureError, loadNativeBackend, recoverSigner, secp256k1Backend, viemBackend, type Secp256k1Backend,
} from "../../src/crypto/secp256k1.js";

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const native = loadNativeBackend();
const backends: Secp256k1Backend[] = native ? [viemBackend, native] : [viemBackend];

const hex = (bytes: Uint8Array): Hex => `0x${Buffer.from(bytes).toString("hex")}`;
const word = (x: bigint) => x.toString(16).padStart(64, "0");

/** What a backend answers: the address, or that the signature is malformed. */
async function outcome(digest: Hex, signature: Hex, backend: Secp256k1Backend): Promise<string> {
  try {
    return await recoverSigner(digest, signature, backend);
  } catch (error) {
    expect(error).toBeInstanceOf(MalformedSignatureError);
    return "malformed";
  }
}

async function signed(): Promise<{ digest: Hex; signature: Hex; address: string }> {
  const key = generatePrivateKey();
  const digest = hex(randomBytes(32));
  return { digest, signature: await sign({ hash: digest, privateKey: key, to: "hex" }), address: privateKeyToAccount(key).address.toLowerCase() };
}

describe("secp256k1 signer recovery", () => {
  it("uses the native library when its binding loads, viem otherwise", () => {
    expect(secp256k1Backend().name).toBe(native ? "libsecp256k1" : "viem");
  });

  for (const backend of backends) {
    it(`recovers the signer with ${backend.name}, with v as 27/28 or 0/1, high s included`, async () => {
      for (let i = 0; i < 10; i++) {
        const { digest, signature, address } = await signed();
        const r = signature.slice(2, 66);
        const s = BigInt(`0x${signature.slice(66, 130)}`);
        const v = parseInt(signature.slice(130), 16);
        const parityForm = `0x${r}${word(s)}${(v - 27).toString(16).padStart(2, "0")}` as Hex;
        const highS = `0x${r}${word(N - s)}${(v === 27 ? 28 : 27).toString(16)}` as Hex; // the same key, malleated

        expect(await recoverSigner(digest, signature, backend)).toBe(address);
        expect(await recoverSigner(digest, parityForm, backend)).toBe(address);
        expect(await recoverSigner(digest, highS, backend)).toBe(address);
      }
    });

    it(`gives another address for a flipped parity or another digest with ${backend.name}`, async () => {
      const { digest, signature, address } = await signed();
      const flipped = `${signature.slice(0, 130)}${signature.endsWith("1b") ? "1c" : "1b"}` as Hex;

      expect(await outcome(digest, flipped, backend)).not.toBe(address);
      expect(await outcome(hex(randomBytes(32)), signature, backend)).not.toBe(address);
    });

    it(`refuses malformed signatures with ${backend.name}`, async () => {
      const { digest, signature } = await signed();
      const r = signature.slice(2, 66);
      const s = signature.slice(66, 130);
      const bad = [
        `0x${word(0n)}${s}1b`, `0x${r}${word(0n)}1b`, `0x${word(N)}${s}1b`, `0x${r}${word(N)}1c`, `0x${word(2n ** 256n - 1n)}${s}1b`,
        `0x${r}${s}1d`, `0x${r}${s}02`, `0x${r}${s}`, `${signature}00`, "0x", `0x${"zz".repeat(65)}`,
      ] as Hex[];

      for (const signature of bad) expect(await outcome(digest, signature, backend), signature).toBe("malformed");
      expect(await outcome("0x1234", signature, backend)).toBe("malformed");
    });
  }

  it.skipIf(!native)("gives the same answer natively as viem for arbitrary r, s and v", async () => {
    // Random r is an x on the curve about half the time: both must agree on which, and on the key.
    for (let i = 0; i < 200; i++) {
      const digest = hex(randomBytes(32));
      const signature = `${hex(randomBytes(64))}${i % 2 ? "1b" : "1c"}` as Hex;

      expect(await outcome(digest, signature, native!)).toBe(await outcome(digest, signature, viemBackend));
    }
  });
});
