/**
 * EIP-712 typed messages that contributors sign with their wallet key: a round submission and a
 * node registration. Domain {name: "dat", version: "1", chainId when known}. The orchestrator
 * recovers the signer and compares it with the claimed address.
 */
import type { Address, Hex, LocalAccount } from "viem";
import { DeniedError, UsageError } from "../core/errors.js";

export interface Eip712DomainOptions {
  /** Chain id of the job's chain; omitted from the domain when unknown. */
  chainId?: number;
}

export const SUBMISSION_TYPES = {
  Submission: [
    { name: "jobId", type: "uint256" },
    { name: "round", type: "uint256" },
    { name: "blobCid", type: "string" },
    { name: "sampleCount", type: "uint256" },
    { name: "metricsHash", type: "bytes32" },
    { name: "modelFingerprint", type: "bytes32" },
  ],
} as const;

export const REGISTRATION_TYPES = {
  NodeRegistration: [
    { name: "node", type: "address" },
    { name: "hardwareHash", type: "bytes32" },
    { name: "backend", type: "string" },
    { name: "timestamp", type: "uint256" },
  ],
} as const;

/** A contributor's claim: "for job/round, my sealed delta is blobCid, trained on sampleCount samples". */
export interface SubmissionMessage {
  jobId: bigint | number;
  round: bigint | number;
  blobCid: string;
  sampleCount: bigint | number;
  /** keccak256 of the canonical metrics JSON (see hashMetrics). */
  metricsHash: Hex;
  /** modelFingerprint of the model the delta applies to. */
  modelFingerprint: Hex;
}

/** A node announcing itself: its address, a hash of its hardware description, backend, and time. */
export interface RegistrationMessage {
  node: Address;
  hardwareHash: Hex;
  backend: string;
  /** Unix seconds; verifiers reject stale registrations to stop replays. */
  timestamp: bigint | number;
}

/** The EIP-712 domain dat signs under. */
export function datDomain(options: Eip712DomainOptions = {}): { name: "dat"; version: "1"; chainId?: number } {
  return options.chainId === undefined ? { name: "dat", version: "1" } : { name: "dat", version: "1", chainId: options.chainId };
}

function uint(value: bigint | number, what: string): bigint {
  if (typeof value === "bigint") {
    if (value >= 0n) return value;
  } else if (Number.isSafeInteger(value) && value >= 0) {
    return BigInt(value);
  }
  throw new UsageError(`${what} must be a non-negative integer, got ${String(value)}.`, { code: "EIP712_BAD_MESSAGE" });
}

function bytes32(value: string, what: string): Hex {
  if (!/^0x[0-9a-fA-F]{64}$/.test(value)) throw new UsageError(`${what} must be a 0x-prefixed 32-byte hex string.`, { code: "EIP712_BAD_MESSAGE" });
  return value.toLowerCase() as Hex;
}

function submissionValue(msg: SubmissionMessage) {
  return {
    jobId: uint(msg.jobId, "jobId"),
    round: uint(msg.round, "round"),
    blobCid: msg.blobCid,
    sampleCount: uint(msg.sampleCount, "sampleCount"),
    metricsHash: bytes32(msg.metricsHash, "metricsHash"),
    modelFingerprint: bytes32(msg.modelFingerprint, "modelFingerprint"),
  };
}

function registrationValue(msg: RegistrationMessage) {
  if (!/^0x[0-9a-fA-F]{40}$/.test(msg.node)) throw new UsageError("node must be a 0x-prefixed 20-byte address.", { code: "EIP712_BAD_MESSAGE" });
  return {
    node: msg.node,
    hardwareHash: bytes32(msg.hardwareHash, "hardwareHash"),
    backend: msg.backend,
    timestamp: uint(msg.timestamp, "timestamp"),
  };
}

/**
 * keccak256 of a metrics object serialised with sorted keys, so signer and verifier hash the same
 * bytes whatever order the fields were built in.
 */
export async function hashMetrics(metrics: Record<string, number | string | boolean | null>): Promise<Hex> {
  const { keccak256, toBytes } = await import("viem");
  const canonical = JSON.stringify(Object.fromEntries(Object.keys(metrics).sort().map((k) => [k, metrics[k]])));
  return keccak256(toBytes(canonical));
}

/** Signs a submission with the contributor's account; returns the 65-byte signature as hex. */
export async function signSubmission(account: LocalAccount, msg: SubmissionMessage, options: Eip712DomainOptions = {}): Promise<Hex> {
  return account.signTypedData({ domain: datDomain(options), types: SUBMISSION_TYPES, primaryType: "Submission", message: submissionValue(msg) });
}

/** Signs a node registration with the node's account. */
export async function signRegistration(account: LocalAccount, msg: RegistrationMessage, options: Eip712DomainOptions = {}): Promise<Hex> {
  return account.signTypedData({ domain: datDomain(options), types: REGISTRATION_TYPES, primaryType: "NodeRegistration", message: registrationValue(msg) });
}

async function recover(params: Parameters<typeof import("viem").recoverTypedDataAddress>[0]): Promise<Address> {
  const { recoverTypedDataAddress } = await import("viem");
  try {
    return await recoverTypedDataAddress(params);
  } catch (cause) {
    throw new DeniedError("The signature is malformed and cannot be verified.", { code: "SIGNATURE_INVALID", cause, hint: "Sign the message again with the contributor's wallet." });
  }
}

function assertSigner(recovered: Address, expected: string, what: string): void {
  if (recovered.toLowerCase() !== expected.toLowerCase()) {
    throw new DeniedError(`The ${what} was not signed by ${expected}.`, {
      code: "SIGNATURE_MISMATCH",
      hint: "The message or signature was altered, or another wallet signed it.",
      data: { expected, recovered },
    });
  }
}

/**
 * Verifies that `signature` over the submission was made by `expectedAddress`.
 * Throws DeniedError (SIGNATURE_INVALID or SIGNATURE_MISMATCH) otherwise.
 */
export async function verifySubmission(msg: SubmissionMessage, signature: Hex, expectedAddress: string, options: Eip712DomainOptions = {}): Promise<void> {
  const recovered = await recover({ domain: datDomain(options), types: SUBMISSION_TYPES, primaryType: "Submission", message: submissionValue(msg), signature });
  assertSigner(recovered, expectedAddress, "submission");
}

/**
 * Verifies a node registration: signed by msg.node and, when maxAgeSeconds is given, not older
 * than that relative to nowSeconds (default: now). Throws DeniedError otherwise.
 */
export async function verifyRegistration(
  msg: RegistrationMessage,
  signature: Hex,
  options: Eip712DomainOptions & { maxAgeSeconds?: number; nowSeconds?: number } = {},
): Promise<void> {
  const recovered = await recover({ domain: datDomain(options), types: REGISTRATION_TYPES, primaryType: "NodeRegistration", message: registrationValue(msg), signature });
  assertSigner(recovered, msg.node, "registration");
  if (options.maxAgeSeconds !== undefined) {
    const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
    const age = now - Number(msg.timestamp);
    if (age > options.maxAgeSeconds || age < -options.maxAgeSeconds) {
      throw new DeniedError(`The registration is ${age} s old, outside the accepted ${options.maxAgeSeconds} s.`, {
        code: "REGISTRATION_STALE",
        hint: "Register again: dat node register",
      });
    }
  }
}
