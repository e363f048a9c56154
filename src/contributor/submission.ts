/**
 * The contributor's side of a submission, without I/O: encode a delta with the round's encoding,
 * seal it to the round key bound to (job, round, address), compute its CID, sign the EIP-712
 * message; and a signed node registration. Shared by `dat push`, `dat train --job` and tests.
 */
import type { LocalAccount } from "viem";
import type { Hex, NodeRegistration, RoundInfo, SignedSubmission } from "../orchestrator/types.js";
import { hexToBytes } from "../orchestrator/deps.js";
import { hashNodeMetadata } from "../orchestrator/nodeMetadata.js";

export interface BuildSubmissionOptions {
  account: LocalAccount;
  round: RoundInfo;
  /** trained − global, in model order. */
  tensors: { name: string; shape: number[]; data: Float32Array }[];
  sampleCount: number;
  /** Training metrics (hashed into the signed message). */
  metrics?: Record<string, number | string | boolean | null>;
  /** Top-k residual from the previous round, one array per tensor. */
  residual?: Float32Array[];
}

export interface BuiltSubmission {
  submission: SignedSubmission;
  sealed: Uint8Array;
  /** Top-k residual to keep for the next round. */
  residual?: Float32Array[];
}

/** Builds a sealed, signed submission for `round`. */
export async function buildSubmission(options: BuildSubmissionOptions): Promise<BuiltSubmission> {
  const [{ encodeDelta }, { sealDelta }, { signSubmission, hashMetrics }, { cidForBytes }] = await Promise.all([
    import("../core/delta/index.js"),
    import("../crypto/hpke.js"),
    import("../crypto/eip712.js"),
    import("../store/cid.js"),
  ]);
  const { round, account } = options;
  const encoded = encodeDelta(
    { sampleCount: options.sampleCount, tensors: options.tensors, fingerprint: round.fingerprint },
    { encoding: round.encoding, residual: round.encoding.startsWith("topk") ? options.residual : undefined },
  );
  const address = account.address.toLowerCase() as Hex;
  const sealed = await sealDelta(encoded.bytes, hexToBytes(round.publicKey), { jobId: round.jobId, round: round.round, contributor: address });
  const blobCid = await cidForBytes(sealed);
  const metricsHash = await hashMetrics(options.metrics ?? {});
  const message = { jobId: round.jobId, round: round.round, blobCid, sampleCount: options.sampleCount, metricsHash, modelFingerprint: round.fingerprint };
  const signature = await signSubmission(account, message);
  return {
    submission: { jobId: round.jobId, round: round.round, address, blobCid, sampleCount: options.sampleCount, metricsHash, fingerprint: round.fingerprint, signature },
    sealed,
    residual: encoded.residual,
  };
}

/** A signed node registration for `account` with what the node runs on. */
export async function buildRegistration(
  account: LocalAccount,
  backend: string,
  metadata: Record<string, unknown>,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<NodeRegistration> {
  const { signRegistration } = await import("../crypto/eip712.js");
  const hardwareHash = hashNodeMetadata(metadata);
  const address = account.address.toLowerCase() as Hex;
  const signature = await signRegistration(account, { node: account.address, hardwareHash, backend, timestamp: nowSeconds });
  return { address, backend, hardwareHash, timestamp: nowSeconds, metadata, signature };
}
