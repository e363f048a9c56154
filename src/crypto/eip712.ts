/**
 * EIP-712 typed messages that contributors sign with their wallet key: a round submission and a
 * node registration. Domain {name: "dat", version: "1", chainId when known}. The orchestrator
 * recovers the signer and compares it with the claimed address.
 *
 * The orchestrator verifies a submission for every push, so its digest is computed here directly
 * (the type is fixed: keccak256 over fixed-width fields, type hash and domain separator computed
 * once) rather than through viem's generic hashTypedData, which re-derives and validates the types
 * on every call; test/crypto/eip712.test.ts checks both give the same digest.
 */
import { keccak_256 } from "@noble/hashes/sha3.js";
import type { Address, Hex, LocalAccount } from "viem";
import { DeniedError, UsageError } from "../core/errors.js";
import { recoverSigner } from "./secp256k1.js";

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
  const { keccak256, toBytes } = await viem();
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

let viemModule: Promise<typeof import("viem")> | undefined;
/** viem, imported once (a dynamic import per call costs a module resolution per submission). */
function viem(): Promise<typeof import("viem")> {
  viemModule ??= import("viem");
  return viemModule;
}

const utf8 = new TextEncoder();
const UINT256_LIMIT = 1n << 256n;
const SUBMISSION_TYPE_HASH = keccak_256(utf8.encode(
  "Submission(uint256 jobId,uint256 round,string blobCid,uint256 sampleCount,bytes32 metricsHash,bytes32 modelFingerprint)",
));
const domainSeparators = new Map<number | undefined, Uint8Array>();

function wordOfUint(value: bigint, what: string): Uint8Array {
  if (value >= UINT256_LIMIT) throw new UsageError(`${what} does not fit in a uint256.`, { code: "EIP712_BAD_MESSAGE" });
  return Uint8Array.from(Buffer.from(value.toString(16).padStart(64, "0"), "hex"));
}

function wordOfBytes32(value: Hex): Uint8Array {
  return Uint8Array.from(Buffer.from(value.slice(2), "hex"));
}

/** hashStruct(EIP712Domain) of datDomain(options). */
function domainSeparator(options: Eip712DomainOptions): Uint8Array {
  const chainId = options.chainId;
  let separator = domainSeparators.get(chainId);
  if (!separator) {
    const words: Uint8Array[] = chainId === undefined
      ? [keccak_256(utf8.encode("EIP712Domain(string name,string version)"))]
      : [keccak_256(utf8.encode("EIP712Domain(string name,string version,uint256 chainId)"))];
    words.push(keccak_256(utf8.encode("dat")), keccak_256(utf8.encode("1")));
    if (chainId !== undefined) words.push(wordOfUint(uint(chainId, "chainId"), "chainId"));
    separator = keccak_256(Buffer.concat(words));
    if (domainSeparators.size < 16) domainSeparators.set(chainId, separator);
  }
  return separator;
}

/**
 * The EIP-712 digest a submission's signature signs:
 * keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(Submission)).
 */
export function hashSubmission(msg: SubmissionMessage, options: Eip712DomainOptions = {}): Hex {
  const v = submissionValue(msg);
  const struct = keccak_256(Buffer.concat([
    SUBMISSION_TYPE_HASH,
    wordOfUint(v.jobId, "jobId"),
    wordOfUint(v.round, "round"),
    keccak_256(utf8.encode(v.blobCid)),
    wordOfUint(v.sampleCount, "sampleCount"),
    wordOfBytes32(v.metricsHash),
    wordOfBytes32(v.modelFingerprint),
  ]));
  const digest = keccak_256(Buffer.concat([Uint8Array.of(0x19, 0x01), domainSeparator(options), struct]));
  return `0x${Buffer.from(digest).toString("hex")}`;
}

function malformedSignature(cause: unknown): DeniedError {
  return new DeniedError("The signature is malformed and cannot be verified.", { code: "SIGNATURE_INVALID", cause, hint: "Sign the message again with the contributor's wallet." });
}

/** The signer of `digest`, or SIGNATURE_INVALID when the signature cannot be read or recovers no key. */
async function recover(digest: Hex, signature: Hex): Promise<Address> {
  try {
    return await recoverSigner(digest, signature);
  } catch (cause) {
    throw malformedSignature(cause);
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
  assertSigner(await recover(hashSubmission(msg, options), signature), expectedAddress, "submission");
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
  const message = registrationValue(msg);
  const { hashTypedData } = await viem();
  let digest: Hex;
  try {
    digest = hashTypedData({ domain: datDomain(options), types: REGISTRATION_TYPES, primaryType: "NodeRegistration", message });
  } catch (cause) {
    throw malformedSignature(cause);
  }
  assertSigner(await recover(digest, signature), msg.node, "registration");
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
