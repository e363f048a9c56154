/**
 * Who signed a 32-byte digest: secp256k1 public-key recovery from a 65-byte r ‖ s ‖ v signature,
 * then the Ethereum address of that key.
 *
 * The orchestrator recovers one signer per submission. viem's recovery (pure JS, noble) costs
 * ≈ 1.5–2.5 ms of CPU; libsecp256k1 ≈ 0.06 ms. The native library comes from the optional
 * package `secp256k1` (prebuilt for linux-x64, darwin-arm64 and win32-x64, built by node-gyp
 * elsewhere): only its native binding is used, never the package's own pure-JS fallback (elliptic,
 * slower than noble). Where the binding is absent or fails to load, recovery goes through viem.
 *
 * Both backends accept exactly the same signatures, because the signature is read here, once, the
 * way viem reads it: 65 bytes; v ∈ {0, 1, 27, 28} is the parity of R's y (so R's x is r itself);
 * r and s in [1, n − 1], high s allowed. test/crypto/secp256k1.test.ts holds them to the same answers.
 */
import { createRequire } from "node:module";
import { keccak_256 } from "@noble/hashes/sha3.js";
import type { Address, Hex } from "viem";

/** Order of the secp256k1 group. */
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** A recovery implementation: the uncompressed (65-byte) public key, or a throw when there is none. */
export interface Secp256k1Backend {
  name: "libsecp256k1" | "viem";
  recoverPublicKey(digest: Uint8Array, rs: Uint8Array, parity: 0 | 1): Uint8Array | Promise<Uint8Array>;
}

interface NativeBinding {
  ecdsaRecover(signature: Uint8Array, recid: number, message: Uint8Array, compressed: boolean): Uint8Array;
}

/** The signature failed to parse or names no key; the caller turns it into its own error. */
export class MalformedSignatureError extends Error {}

let viemModule: Promise<typeof import("viem")> | undefined;

/** viem's recovery: the reference, and the fallback. */
export const viemBackend: Secp256k1Backend = {
  name: "viem",
  async recoverPublicKey(digest, rs, parity) {
    viemModule ??= import("viem");
    const { recoverPublicKey } = await viemModule;
    const signature = `0x${Buffer.from(rs).toString("hex")}${parity === 0 ? "1b" : "1c"}` as Hex;
    const key = await recoverPublicKey({ hash: `0x${Buffer.from(digest).toString("hex")}`, signature });
    return Uint8Array.from(Buffer.from(key.slice(2), "hex"));
  },
};

/** libsecp256k1 through the `secp256k1` package's native binding, or undefined where it does not load. */
export function loadNativeBackend(): Secp256k1Backend | undefined {
  let binding: NativeBinding;
  try {
    binding = createRequire(import.meta.url)("secp256k1/bindings.js") as NativeBinding;
  } catch {
    return undefined;
  }
  return {
    name: "libsecp256k1",
    recoverPublicKey: (digest, rs, parity) => binding.ecdsaRecover(rs, parity, digest, false),
  };
}

let defaultBackend: Secp256k1Backend | undefined;

/** The backend recoverSigner uses: native when it loads, else viem. */
export function secp256k1Backend(): Secp256k1Backend {
  defaultBackend ??= loadNativeBackend() ?? viemBackend;
  return defaultBackend;
}

function scalar(bytes: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(bytes).toString("hex")}`);
}

/**
 * The address (lower case) whose key signed `digest`. Throws MalformedSignatureError when the
 * signature cannot be read (length, v, r or s out of range) or recovers no key.
 */
export async function recoverSigner(digest: Hex, signature: Hex, backend: Secp256k1Backend = secp256k1Backend()): Promise<Address> {
  if (!/^0x[0-9a-fA-F]{64}$/.test(digest)) throw new MalformedSignatureError("the digest is not 32 bytes of hex");
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) throw new MalformedSignatureError("the signature is not 65 bytes of hex");
  const bytes = Uint8Array.from(Buffer.from(signature.slice(2), "hex"));
  const v = bytes[64];
  if (v !== 0 && v !== 1 && v !== 27 && v !== 28) throw new MalformedSignatureError(`v = ${v} is not 0, 1, 27 or 28`);
  const rs = bytes.subarray(0, 64);
  const r = scalar(rs.subarray(0, 32));
  const s = scalar(rs.subarray(32));
  if (r < 1n || r >= N || s < 1n || s >= N) throw new MalformedSignatureError("r or s is outside [1, n − 1]");
  const parity = (v >= 27 ? v - 27 : v) as 0 | 1;
  let key: Uint8Array;
  try {
    key = await backend.recoverPublicKey(Uint8Array.from(Buffer.from(digest.slice(2), "hex")), rs, parity);
  } catch (cause) {
    throw new MalformedSignatureError("the signature recovers no public key", { cause });
  }
  const hash = keccak_256(key.subarray(1));
  return `0x${Buffer.from(hash.subarray(12)).toString("hex")}`;
}
