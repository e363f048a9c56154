/**
 * Signed challenges for token-gated inference. The server issues a fresh EIP-712 message (server
 * nonce, expiry, audience, job, purpose); the caller signs it with its wallet, proving it controls
 * the address whose token balance the gate then reads. A nonce works once.
 */
import { randomBytes } from "node:crypto";
import type Database from "better-sqlite3";
import { z } from "zod";
import { getAddress, recoverTypedDataAddress, type Address, type Hex, type LocalAccount } from "viem";
import { DeniedError, MalformedInputError } from "../core/errors.js";
import { datDomain } from "../crypto/eip712.js";
import { consumeChallenge, getChallenge, insertChallenge, pruneChallenges, type ChallengePurpose } from "../db/challenges.js";

export type { ChallengePurpose } from "../db/challenges.js";

/** Default lifetime of a challenge: long enough to sign, short enough that a leak is useless. */
export const DEFAULT_CHALLENGE_TTL_SECONDS = 120;

export const CHALLENGE_TYPES = {
  InferenceChallenge: [
    { name: "purpose", type: "string" },
    { name: "jobId", type: "string" },
    { name: "audience", type: "string" },
    { name: "nonce", type: "bytes32" },
    { name: "issuedAt", type: "uint64" },
    { name: "expiresAt", type: "uint64" },
  ],
} as const;

export interface ChallengeMessage {
  purpose: ChallengePurpose;
  jobId: string;
  audience: string;
  nonce: Hex;
  issuedAt: number;
  expiresAt: number;
}

/** What the server hands out: exactly the EIP-712 typed data the caller signs. */
export interface ChallengeTypedData {
  domain: { name: string; version: string; chainId: number };
  types: typeof CHALLENGE_TYPES;
  primaryType: "InferenceChallenge";
  message: ChallengeMessage;
}

/** What the caller sends back. */
export interface SignedChallenge {
  address: Address;
  message: ChallengeMessage;
  signature: Hex;
}

const hexRe = /^0x[0-9a-fA-F]*$/;
export const signedChallengeSchema = z.object({
  address: z.string().regex(/^0x[0-9a-fA-F]{40}$/, "an 0x-prefixed 20-byte address"),
  message: z.object({
    purpose: z.enum(["infer", "model-key"]),
    jobId: z.string().min(1).max(100),
    audience: z.string().min(1).max(500),
    nonce: z.string().regex(/^0x[0-9a-fA-F]{64}$/, "a 32-byte 0x-prefixed hex nonce"),
    issuedAt: z.number().int().nonnegative(),
    expiresAt: z.number().int().nonnegative(),
  }),
  signature: z.string().regex(hexRe, "0x-prefixed hex").min(4).max(300),
});

export interface IssueChallengeOptions {
  jobId: string;
  purpose: ChallengePurpose;
  /** Who the signature is for (the server's URL, or `dat:local` in-process): it cannot be replayed elsewhere. */
  audience: string;
  chainId: number;
  ttlSeconds?: number;
  /** Seconds since the epoch (tests move the clock). */
  now?: number;
}

/**
 * Issue a fresh challenge and remember its nonce so that it can be spent once.
 * Old expired nonces are pruned on the way.
 */
export function issueChallenge(db: Database.Database, options: IssueChallengeOptions): ChallengeTypedData {
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const ttl = options.ttlSeconds ?? DEFAULT_CHALLENGE_TTL_SECONDS;
  const message: ChallengeMessage = {
    purpose: options.purpose,
    jobId: options.jobId,
    audience: options.audience,
    nonce: `0x${randomBytes(32).toString("hex")}`,
    issuedAt: now,
    expiresAt: now + ttl,
  };
  // A day of grace so a late replay reads "expired"/"reused" rather than "unknown".
  pruneChallenges(db, now - 86_400);
  insertChallenge(db, {
    nonce: message.nonce.toLowerCase(),
    jobId: message.jobId,
    purpose: message.purpose,
    audience: message.audience,
    chainId: options.chainId,
    issuedAt: message.issuedAt,
    expiresAt: message.expiresAt,
  });
  return challengeTypedData(options.chainId, message);
}

/** The typed data for a message under dat's domain on `chainId`. */
export function challengeTypedData(chainId: number, message: ChallengeMessage): ChallengeTypedData {
  return {
    domain: { ...datDomain(), chainId },
    types: CHALLENGE_TYPES,
    primaryType: "InferenceChallenge",
    message,
  };
}

/** Sign a challenge the server issued (client side). */
export async function signChallenge(account: LocalAccount, challenge: ChallengeTypedData): Promise<SignedChallenge> {
  const signature = await account.signTypedData({
    domain: challenge.domain,
    types: challenge.types,
    primaryType: challenge.primaryType,
    message: { ...challenge.message, issuedAt: BigInt(challenge.message.issuedAt), expiresAt: BigInt(challenge.message.expiresAt) },
  });
  return { address: account.address, message: challenge.message, signature };
}

export interface VerifyChallengeOptions {
  jobId: string;
  purpose: ChallengePurpose;
  /** Seconds since the epoch (tests move the clock). */
  now?: number;
}

/**
 * Check a signed challenge and spend its nonce. Returns the proven (checksummed) address.
 * Throws MalformedInputError (CHALLENGE_MALFORMED) for a body of the wrong form and DeniedError
 * with CHALLENGE_UNKNOWN, CHALLENGE_MISMATCH, CHALLENGE_EXPIRED, CHALLENGE_REUSED or
 * CHALLENGE_BAD_SIGNATURE otherwise. The nonce is spent only by a valid signature, so a forged
 * attempt cannot burn a legitimate caller's challenge.
 */
export async function verifyChallenge(
  db: Database.Database,
  input: unknown,
  options: VerifyChallengeOptions,
): Promise<Address> {
  const parsed = signedChallengeSchema.safeParse(input);
  if (!parsed.success) {
    throw new MalformedInputError("The signed challenge is malformed.", {
      code: "CHALLENGE_MALFORMED",
      details: parsed.error.issues.map((i) => `${i.path.join(".") || "challenge"}: ${i.message}`),
      hint: "Send {address, message, signature} with the message exactly as GET /jobs/:id/challenge returned it.",
    });
  }
  const signed = parsed.data;
  const message = signed.message as ChallengeMessage;
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const row = getChallenge(db, message.nonce.toLowerCase());
  const fresh = "Ask for a fresh challenge and sign it.";
  if (!row) {
    throw new DeniedError("This challenge was not issued by this server.", { code: "CHALLENGE_UNKNOWN", hint: fresh });
  }
  const mismatched: string[] = [];
  if (row.jobId !== options.jobId || message.jobId !== options.jobId) mismatched.push(`jobId (challenge for job ${row.jobId}, request for job ${options.jobId})`);
  if (row.purpose !== options.purpose || message.purpose !== options.purpose) mismatched.push(`purpose (challenge for "${row.purpose}", request is "${options.purpose}")`);
  if (message.audience !== row.audience) mismatched.push("audience");
  if (message.issuedAt !== row.issuedAt || message.expiresAt !== row.expiresAt) mismatched.push("issuedAt/expiresAt");
  if (mismatched.length > 0) {
    throw new DeniedError("The signed challenge does not match the one issued.", {
      code: "CHALLENGE_MISMATCH",
      details: mismatched.map((m) => `differs: ${m}`),
      hint: fresh,
    });
  }
  if (row.usedAt !== null) {
    throw new DeniedError("This challenge was already used; a challenge works once.", { code: "CHALLENGE_REUSED", hint: fresh });
  }
  if (now > row.expiresAt) {
    throw new DeniedError(`This challenge expired ${now - row.expiresAt}s ago.`, {
      code: "CHALLENGE_EXPIRED",
      data: { expiresAt: row.expiresAt, now },
      hint: fresh,
    });
  }
  let signer: Address;
  try {
    signer = await recoverTypedDataAddress({
      ...challengeTypedData(row.chainId, message),
      message: { ...message, issuedAt: BigInt(message.issuedAt), expiresAt: BigInt(message.expiresAt) },
      signature: signed.signature as Hex,
    });
  } catch (error) {
    throw new MalformedInputError("The challenge signature is not a valid signature.", {
      code: "CHALLENGE_MALFORMED",
      cause: error,
      hint: "Sign the typed data with eth_signTypedData_v4 (EIP-712).",
    });
  }
  const claimed = getAddress(signed.address);
  if (signer !== claimed) {
    throw new DeniedError(`The challenge was signed by ${signer}, not by ${claimed}.`, {
      code: "CHALLENGE_BAD_SIGNATURE",
      data: { claimed, signer },
      hint: "Sign with the wallet of the address you claim.",
    });
  }
  if (!consumeChallenge(db, row.nonce, claimed, now)) {
    throw new DeniedError("This challenge was already used; a challenge works once.", { code: "CHALLENGE_REUSED", hint: fresh });
  }
  return claimed;
}
