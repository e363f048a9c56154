import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import type Database from "better-sqlite3";
import { openDatabase } from "../../src/db/index.js";
import { issueChallenge, signChallenge, verifyChallenge } from "../../src/inference/challenge.js";
import { rejection } from "./helpers.js";

let home: string;
let db: Database.Database;
const alice = privateKeyToAccount(generatePrivateKey());
const mallory = privateKeyToAccount(generatePrivateKey());
const T0 = 1_800_000_000;

beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), "dat-challenge-"));
  db = openDatabase(home);
});
afterEach(() => {
  db.close();
  fs.rmSync(home, { recursive: true, force: true });
});

const issue = (over: Partial<Parameters<typeof issueChallenge>[1]> = {}) =>
  issueChallenge(db, { jobId: "1", purpose: "infer", audience: "http://127.0.0.1:8780", chainId: 31337, ttlSeconds: 60, now: T0, ...over });

describe("challenge", () => {
  it("accepts a fresh challenge signed by the claimed address, once", async () => {
    // Prepare
    const signed = await signChallenge(alice, issue());
    // Execute
    const address = await verifyChallenge(db, signed, { jobId: "1", purpose: "infer", now: T0 + 5 });
    // Assert
    expect(address).toBe(alice.address);
    const again = await rejection(verifyChallenge(db, signed, { jobId: "1", purpose: "infer", now: T0 + 6 }));
    expect(again.code).toBe("CHALLENGE_REUSED");
    expect(again.exitCode).toBe(5);
  });

  it("denies an expired challenge", async () => {
    const signed = await signChallenge(alice, issue());
    const error = await rejection(verifyChallenge(db, signed, { jobId: "1", purpose: "infer", now: T0 + 61 }));
    expect(error.code).toBe("CHALLENGE_EXPIRED");
    expect(error.exitCode).toBe(5);
  });

  it("denies a signature by another address, and the nonce stays usable by its owner", async () => {
    const challenge = issue();
    const forged = { ...(await signChallenge(mallory, challenge)), address: alice.address };
    const error = await rejection(verifyChallenge(db, forged, { jobId: "1", purpose: "infer", now: T0 }));
    expect(error.code).toBe("CHALLENGE_BAD_SIGNATURE");
    expect(error.message).toContain(mallory.address);
    const genuine = await signChallenge(alice, challenge);
    await expect(verifyChallenge(db, genuine, { jobId: "1", purpose: "infer", now: T0 })).resolves.toBe(alice.address);
  });

  it("denies a challenge for another job, another purpose, or with altered fields", async () => {
    const signed = await signChallenge(alice, issue());
    expect((await rejection(verifyChallenge(db, signed, { jobId: "2", purpose: "infer", now: T0 }))).code).toBe("CHALLENGE_MISMATCH");
    expect((await rejection(verifyChallenge(db, signed, { jobId: "1", purpose: "model-key", now: T0 }))).code).toBe("CHALLENGE_MISMATCH");
    const stretched = { ...signed, message: { ...signed.message, expiresAt: signed.message.expiresAt + 3600 } };
    expect((await rejection(verifyChallenge(db, stretched, { jobId: "1", purpose: "infer", now: T0 }))).code).toBe("CHALLENGE_MISMATCH");
  });

  it("denies a nonce this server never issued", async () => {
    const challenge = issue();
    const made = { ...challenge, message: { ...challenge.message, nonce: `0x${"ab".repeat(32)}` as const } };
    const signed = await signChallenge(alice, made);
    expect((await rejection(verifyChallenge(db, signed, { jobId: "1", purpose: "infer", now: T0 }))).code).toBe("CHALLENGE_UNKNOWN");
  });

  it("rejects malformed challenges as malformed input", async () => {
    const signed = await signChallenge(alice, issue());
    const cases: unknown[] = [
      undefined,
      null,
      "hello",
      {},
      { ...signed, address: "0x123" },
      { ...signed, signature: "nothex" },
      { ...signed, signature: "0x1234" },
      { ...signed, message: { ...signed.message, nonce: "0x00" } },
      { ...signed, message: { ...signed.message, issuedAt: "now" } },
      { ...signed, message: { ...signed.message, purpose: "steal" } },
    ];
    for (const input of cases) {
      const error = await rejection(verifyChallenge(db, input, { jobId: "1", purpose: "infer", now: T0 }));
      expect(error.code, JSON.stringify(input)).toBe("CHALLENGE_MALFORMED");
      expect(error.exitCode).toBe(3);
    }
    // A malformed attempt does not spend the nonce.
    await expect(verifyChallenge(db, signed, { jobId: "1", purpose: "infer", now: T0 })).resolves.toBe(alice.address);
  });
});
