/**
 * The other parts the orchestrator stands on, bound in one place: the blob store, HPKE opening,
 * EIP-712 verification and delta decoding. Loaded lazily so `dat job list` does not pay for them.
 */
import type { RoundRecipientKey } from "../crypto/hpke.js";
import type { BlobStore, StoreConfig } from "../store/index.js";
import type { Hex, NodeRegistration, SignedSubmission } from "./types.js";

export type { RoundRecipientKey } from "../crypto/hpke.js";

export interface DecodedDelta {
  fingerprint: string;
  sampleCount: number;
  encoding: string;
  tensors: { name: string; shape: number[]; data: Float32Array }[];
}

export interface OrchestratorDeps {
  /** The configured blob store of a home; `config` when the caller already loaded it, else read from the home. */
  openStore(home: string, config?: StoreConfig): Promise<BlobStore>;
  /** Round key pair as 0x hex (32 raw bytes each). */
  generateRoundKeyPair(): Promise<{ publicKey: Hex; privateKey: Hex }>;
  /** A round's private key (0x hex) imported once, for opening that round's deltas. */
  importRoundKey(privateKey: Hex): RoundRecipientKey;
  openDelta(key: RoundRecipientKey, sealed: Uint8Array, aad: { jobId: number; round: number; address: Hex }): Promise<Uint8Array>;
  decodeDelta(bytes: Uint8Array, bounds: { fingerprint: string; maxNorm?: number; maxElements?: number }): DecodedDelta;
  /** Throws DeniedError unless `submission.address` signed it. */
  verifySubmission(submission: SignedSubmission): Promise<void>;
  /** Throws DeniedError unless `registration.address` signed it. */
  verifyRegistration(registration: NodeRegistration): Promise<void>;
}

let cached: Promise<OrchestratorDeps> | undefined;

export function hexToBytes(hex: Hex): Uint8Array {
  return Uint8Array.from(Buffer.from(hex.slice(2), "hex"));
}

export function bytesToHex(bytes: Uint8Array): Hex {
  return `0x${Buffer.from(bytes).toString("hex")}`;
}

/** The real dependencies, imported once. */
export function loadDeps(): Promise<OrchestratorDeps> {
  cached ??= (async (): Promise<OrchestratorDeps> => {
    const [hpke, eip712, delta, config] = await Promise.all([
      import("../crypto/hpke.js"),
      import("../crypto/eip712.js"),
      import("../core/delta/index.js"),
      import("../config/index.js"),
    ]);
    return {
      async openStore(home: string, storeConfig?: StoreConfig) {
        const { openStore } = await import("../store/index.js");
        return openStore(home, storeConfig ?? (await config.loadConfig({ home, env: process.env })).values);
      },
      async generateRoundKeyPair() {
        const kp = await hpke.generateRoundKeyPair();
        return { publicKey: bytesToHex(kp.publicKey), privateKey: bytesToHex(kp.privateKey) };
      },
      importRoundKey: (privateKey) => hpke.importRoundPrivateKey(hexToBytes(privateKey)),
      openDelta: (key, sealed, aad) => hpke.openDelta(sealed, key, { jobId: aad.jobId, round: aad.round, contributor: aad.address }),
      decodeDelta: (bytes, bounds) =>
        delta.decodeDelta(bytes, { expectedFingerprint: bounds.fingerprint, maxNorm: bounds.maxNorm, maxElements: bounds.maxElements }),
      verifySubmission: (s) =>
        eip712.verifySubmission(
          { jobId: s.jobId, round: s.round, blobCid: s.blobCid, sampleCount: s.sampleCount, metricsHash: s.metricsHash, modelFingerprint: s.fingerprint },
          s.signature, s.address,
        ),
      verifyRegistration: (r) =>
        eip712.verifyRegistration({ node: r.address, hardwareHash: r.hardwareHash, backend: r.backend, timestamp: r.timestamp }, r.signature),
    };
  })();
  return cached;
}
