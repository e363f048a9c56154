/**
 * Locked writes of $DAT_HOME/config.json. The file is only ever replaced atomically, under a lock,
 * and never when it cannot be parsed: a corrupt file is reported with its path and left as it is.
 */
import fs from "node:fs";
import { UserError } from "../core/errors.js";
import { ensureHome, writeFileAtomic } from "./home.js";
import { coerce, getPath, leafFor, leaves, parseConfigValue, setPath } from "./keys.js";
import { configPath, readConfigFile, type ConfigFileContent } from "./load.js";

const LOCK_STALE_MS = 10_000;
const LOCK_WAIT_MS = 5_000;

/** Serialise read-modify-write of the config file across processes (a lock file made with O_EXCL). */
function withConfigLock<T>(home: string, run: () => T): T {
  const lock = configPath(home) + ".lock";
  const deadline = Date.now() + LOCK_WAIT_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      fs.closeSync(fs.openSync(lock, "wx", 0o600));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      try {
        // A process that died while holding the lock must not block the home forever.
        if (Date.now() - fs.statSync(lock).mtimeMs > LOCK_STALE_MS) fs.rmSync(lock, { force: true });
      } catch {
        // The holder released it between our two calls.
      }
      if (Date.now() > deadline) {
        throw new UserError(`The config file is locked by another dat process (${lock}).`, {
          code: "CONFIG_LOCKED",
          hint: `Retry; if no other dat is running, remove ${lock}.`,
        });
      }
      Atomics.wait(pause, 0, 0, 10);
    }
  }
  try {
    return run();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

/**
 * Change the config file: `change` receives the current raw content (a partial, nested object; keys
 * dat does not know are kept) and returns the new one. The result is validated before it replaces
 * the file atomically; a corrupt file is refused and left as it is. Creates the home when missing.
 */
export async function updateConfig(
  home: string,
  change: (current: ConfigFileContent) => ConfigFileContent | void,
): Promise<ConfigFileContent> {
  ensureHome(home);
  return withConfigLock(home, () => {
    const current = readConfigFile(home);
    const next = change(structuredClone(current)) ?? current;
    for (const leaf of leaves()) {
      const raw = getPath(next, leaf.key);
      if (raw === undefined) continue;
      const result = coerce(leaf, raw);
      if (!result.ok) {
        throw new UserError(`Invalid value for ${leaf.key}: ${result.message}.`, { code: "CONFIG_INVALID", data: { key: leaf.key } });
      }
    }
    // Mode 0600: the file may hold an operator token.
    writeFileAtomic(configPath(home), JSON.stringify(next, null, 2) + "\n", { mode: 0o600 });
    return next;
  });
}

/**
 * Set one key in the config file. `value` may be typed or text (text is read as JSON when the
 * key is not a string, e.g. "8780"). Returns the stored value.
 */
export async function setConfigValue(home: string, key: string, value: unknown): Promise<unknown> {
  const stored = parseConfigValue(key, value, "the command line");
  await updateConfig(home, (cfg) => {
    setPath(cfg, key, stored);
    return cfg;
  });
  return stored;
}

/** Remove one key from the config file (it falls back to the environment or the default). */
export async function unsetConfigValue(home: string, key: string): Promise<void> {
  leafFor(key);
  await updateConfig(home, (cfg) => {
    setPath(cfg, key, undefined);
    return cfg;
  });
}
