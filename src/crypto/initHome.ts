/**
 * `dat init` as a service: create the home, its config file, the database and the wallet.
 * Everything is checked before anything is written, so a refused init leaves the disk as it was.
 */
import fs from "node:fs";
import { UserError } from "../core/errors.js";
import { ensureHome, inspectHome } from "../config/home.js";
import { configPath, readConfigFile, updateConfig } from "../config/index.js";

export interface InitHomeOptions {
  passphrase: string;
  /** Hex private key to import; a new key is generated when absent. */
  privateKey?: string;
  force?: boolean;
  env?: NodeJS.ProcessEnv;
}

export interface InitHomeResult {
  address: string;
  home: string;
  keystore: string;
  config: string;
  database: string;
  imported: boolean;
  configCreated: boolean;
  /** Where a replaced keystore was moved (only with force). */
  backup?: string;
}

/** Refuse (WALLET_EXISTS) when the home already holds a wallet and `force` is not set. */
export async function refuseExistingWallet(home: string, force: boolean | undefined): Promise<void> {
  const { keystoreExists, keystorePath, walletExists } = await import("./keystore.js");
  if (!force && keystoreExists(home)) throw walletExists(keystorePath(home));
}

/**
 * Initialise a dat home. Refuses (WALLET_EXISTS) when a wallet exists and `force` is not set,
 * and refuses a corrupt config file or a too-new database, in each case changing nothing.
 */
export async function initHome(home: string, options: InitHomeOptions): Promise<InitHomeResult> {
  const { createKeystore, parsePrivateKey, scryptCost } = await import("./keystore.js");
  if (options.privateKey !== undefined) parsePrivateKey(options.privateKey);
  if (!options.passphrase) throw new UserError("The passphrase must not be empty.", { code: "EMPTY_PASSPHRASE" });
  scryptCost(options.env);
  inspectHome(home);
  readConfigFile(home);
  await refuseExistingWallet(home, options.force);

  ensureHome(home);
  const { openDatabase, databasePath } = await import("../db/index.js");
  const { setMeta, setMetaOnce } = await import("../db/meta.js");
  const db = openDatabase(home);
  try {
    const file = configPath(home);
    const configCreated = !fs.existsSync(file);
    if (configCreated) await updateConfig(home, (cfg) => cfg);
    const created = await createKeystore(home, {
      passphrase: options.passphrase,
      privateKey: options.privateKey,
      force: options.force,
      env: options.env,
    });
    setMetaOnce(db, "home.createdAt", new Date().toISOString());
    setMeta(db, "wallet.address", created.address);
    return {
      address: created.address,
      home,
      keystore: created.path,
      config: file,
      database: databasePath(home),
      imported: options.privateKey !== undefined,
      configCreated,
      backup: created.backup,
    };
  } finally {
    db.close();
  }
}
