/**
 * The wallet: one Ethereum keystore V3 file (scrypt KDF, AES-128-CTR) at <home>/keystore.json,
 * mode 0600. The private key exists on disk only in this encrypted form and is never printed.
 */
import fs from "node:fs";
import path from "node:path";
import type { Address, Hex, PrivateKeyAccount } from "viem";
import { NotFoundError, UserError } from "../core/errors.js";
import { ensureHome, KEYSTORE_FILE, writeFileAtomic } from "../config/home.js";

/** scrypt cost for new keystores (geth's "standard" setting: N=2^18, r=8, p=1). */
export const DEFAULT_SCRYPT_N = 262_144;

export interface CreateKeystoreOptions {
  passphrase: string;
  /** Import this key (hex, with or without 0x) instead of generating one. */
  privateKey?: string;
  /** Replace an existing keystore (the old file is kept as keystore.json.bak-<time>). */
  force?: boolean;
  /** Environment for DAT_SCRYPT_N (defaults to process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface CreateKeystoreResult {
  address: Address;
  path: string;
  /** Where the replaced keystore was moved, under force. */
  backup?: string;
}

/** Path of the keystore of a home. */
export function keystorePath(home: string): string {
  return path.join(home, KEYSTORE_FILE);
}

/** Whether the home holds a keystore file. */
export function keystoreExists(home: string): boolean {
  return fs.existsSync(keystorePath(home));
}

/**
 * scrypt N for new keystores. DAT_SCRYPT_N lowers it for tests only (a low N makes the file
 * easy to brute-force); it must be a power of two of at least 1024.
 */
export function scryptCost(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.DAT_SCRYPT_N;
  if (raw === undefined || raw === "") return DEFAULT_SCRYPT_N;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1024 || n > 1 << 22 || (n & (n - 1)) !== 0) {
    throw new UserError(`DAT_SCRYPT_N must be a power of two between 1024 and 4194304, got "${raw}".`, {
      code: "CONFIG_INVALID",
      hint: "Unset DAT_SCRYPT_N (it exists only to make tests fast).",
    });
  }
  return n;
}

/** Parse a hex private key; a UserError (never echoing the input) when it is not one. */
export function parsePrivateKey(text: string): Uint8Array {
  const hex = text.trim().replace(/^0x/i, "");
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new UserError("The private key must be 32 bytes of hex (64 hex digits, optional 0x prefix).", {
      code: "BAD_PRIVATE_KEY",
      hint: "Pass it on stdin or in DAT_PRIVATE_KEY, never as an argument.",
    });
  }
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

/**
 * Create the wallet keystore. Refuses to replace an existing one unless `force` (even when two
 * processes race: the final step is an exclusive hard link). Returns the address.
 */
export async function createKeystore(home: string, options: CreateKeystoreOptions): Promise<CreateKeystoreResult> {
  if (!options.passphrase) {
    throw new UserError("The passphrase must not be empty.", { code: "EMPTY_PASSPHRASE", hint: "Choose a passphrase to encrypt the wallet." });
  }
  const n = scryptCost(options.env);
  ensureHome(home);
  const file = keystorePath(home);
  if (!options.force && keystoreExists(home)) throw walletExists(file);

  const { Wallet } = await import("@ethereumjs/wallet");
  let wallet: InstanceType<typeof Wallet>;
  if (options.privateKey !== undefined) {
    const key = parsePrivateKey(options.privateKey);
    try {
      wallet = Wallet.fromPrivateKey(key);
    } catch {
      throw new UserError("The private key is not a valid secp256k1 key.", { code: "BAD_PRIVATE_KEY" });
    }
  } else {
    wallet = Wallet.generate();
  }
  const v3 = await wallet.toV3(options.passphrase, { kdf: "scrypt", n });
  const content = JSON.stringify(v3, null, 2) + "\n";

  let backup: string | undefined;
  if (options.force && keystoreExists(home)) {
    // --force must not destroy the only copy of a key that may hold funds.
    backup = `${file}.bak-${new Date().toISOString().replace(/[:.]/g, "-")}`;
    fs.renameSync(file, backup);
  }
  try {
    writeFileAtomic(file, content, { mode: 0o600, exclusive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") throw walletExists(file);
    throw error;
  }
  const { getAddress } = await import("viem");
  return { address: getAddress(wallet.getAddressString()), path: file, backup };
}

/** The refusal to replace an existing wallet without --force. */
export function walletExists(file: string): UserError {
  return new UserError(`A wallet already exists at ${file}.`, {
    code: "WALLET_EXISTS",
    hint: "Keep it, or replace it with --force (the old keystore is kept as a .bak file).",
    data: { path: file },
  });
}

interface KeystoreFile {
  version: number;
  address?: string;
  crypto: unknown;
}

function readKeystoreFile(home: string, checkMode: boolean): KeystoreFile {
  const file = keystorePath(home);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT" || (error as NodeJS.ErrnoException).code === "ENOTDIR") {
      throw new NotFoundError(`No wallet in ${home}.`, { code: "NO_WALLET", hint: "Create one with: dat init (or dat init --import)" });
    }
    throw error;
  }
  if (checkMode && process.platform !== "win32" && (stat.mode & 0o077) !== 0) {
    throw new UserError(`The keystore ${file} is readable by others (mode ${(stat.mode & 0o777).toString(8)}).`, {
      code: "KEYSTORE_MODE",
      hint: `Restrict it: chmod 600 ${file}`,
      data: { path: file, mode: (stat.mode & 0o777).toString(8) },
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    throw new UserError(`The keystore ${file} cannot be read: ${(error as Error).message}`, {
      code: "KEYSTORE_CORRUPT",
      hint: "Restore it from a backup; dat did not change it.",
      cause: error,
    });
  }
  const ks = parsed as KeystoreFile;
  if (!ks || typeof ks !== "object" || ks.version !== 3 || typeof ks.crypto !== "object" || ks.crypto === null) {
    throw new UserError(`The keystore ${file} is not an Ethereum keystore V3 file.`, {
      code: "KEYSTORE_CORRUPT",
      hint: "Restore it from a backup; dat did not change it.",
    });
  }
  return ks;
}

/**
 * Decrypt the wallet and return it as a viem account. Refuses a keystore readable by group or
 * others (KEYSTORE_MODE) and a wrong passphrase (WRONG_PASSPHRASE).
 */
export async function loadAccount(home: string, passphrase: string): Promise<PrivateKeyAccount> {
  const ks = readKeystoreFile(home, true);
  const { Wallet } = await import("@ethereumjs/wallet");
  let wallet: InstanceType<typeof Wallet>;
  try {
    wallet = await Wallet.fromV3(ks as never, passphrase);
  } catch (error) {
    if (/passphrase/i.test((error as Error).message)) {
      throw new UserError("Wrong passphrase for the wallet.", {
        code: "WRONG_PASSPHRASE",
        hint: "Check DAT_PASSPHRASE (or what you typed).",
      });
    }
    throw new UserError(`The keystore ${keystorePath(home)} cannot be decrypted: ${(error as Error).message}`, {
      code: "KEYSTORE_CORRUPT",
      cause: error,
    });
  }
  const { privateKeyToAccount } = await import("viem/accounts");
  const account = privateKeyToAccount(wallet.getPrivateKeyString() as Hex);
  if (ks.address && account.address.toLowerCase() !== "0x" + ks.address.toLowerCase().replace(/^0x/, "")) {
    throw new UserError(`The keystore ${keystorePath(home)} names address 0x${ks.address} but holds the key of ${account.address}.`, {
      code: "KEYSTORE_CORRUPT",
    });
  }
  return account;
}

/** The wallet's address, read without the passphrase. */
export async function readAddress(home: string): Promise<Address> {
  const ks = readKeystoreFile(home, false);
  const { getAddress } = await import("viem");
  if (typeof ks.address !== "string" || !/^(0x)?[0-9a-fA-F]{40}$/.test(ks.address)) {
    throw new UserError(`The keystore ${keystorePath(home)} does not record its address.`, {
      code: "KEYSTORE_NO_ADDRESS",
      hint: "Unlock it with the passphrase instead.",
    });
  }
  return getAddress(ks.address.startsWith("0x") ? ks.address : `0x${ks.address}`);
}
