/**
 * Configuration loading and saving. Each key resolves from, in order: command-line flags
 * (--rpc-url, --orchestrator) > DAT_* environment variables > $DAT_HOME/config.json > defaults.
 * `ResolvedConfig.sources` says where every value came from (shown by `dat config list`).
 *
 * The config file is only ever replaced atomically, under a lock, and never when it cannot be
 * parsed: a corrupt file is reported with its path and left exactly as it is.
 */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { UsageError, UserError } from "../core/errors.js";
import type { CliContext } from "../cli/context.js";
import { configSchema, ENV_ALIASES, type DatConfig } from "./schema.js";
import { CONFIG_FILE, ensureHome, inspectHome, writeFileAtomic } from "./home.js";

export { configSchema, SECRET_KEYS, type DatConfig } from "./schema.js";

/** Where a value came from: a flag, an environment variable (named), the file, or the default. */
export type ConfigSource = "flag" | `env:${string}` | "file" | "default" | "unset";

export interface ConfigEntry {
  key: string;
  value: unknown;
  source: ConfigSource;
}

export interface ResolvedConfig {
  /** The typed configuration, every default applied. */
  values: DatConfig;
  /** Source of each dotted key (`chain.rpcUrl` → `env:DAT_RPC_URL`). */
  sources: Record<string, ConfigSource>;
  /** Every key with its value and source, in schema order. */
  entries: ConfigEntry[];
  /** Path of the config file (it may not exist). */
  file: string;
}

/** The raw JSON object of the config file: a partial, nested like the schema. */
export type ConfigFileContent = Record<string, unknown>;

export type LoadConfigContext = Pick<CliContext, "home" | "env" | "orchestrator" | "rpcUrl">;

/** Path of the config file of a home. */
export function configPath(home: string): string {
  return path.join(home, CONFIG_FILE);
}

interface Leaf {
  key: string;
  schema: z.ZodType;
}

let leavesCache: Leaf[] | undefined;

/** Every settable key (a leaf of the schema), in schema order. */
function leaves(): Leaf[] {
  if (leavesCache) return leavesCache;
  const found: Leaf[] = [];
  const walk = (schema: z.ZodType, prefix: string) => {
    if (schema instanceof z.ZodObject) {
      for (const [name, child] of Object.entries(schema.shape)) walk(child as z.ZodType, prefix ? `${prefix}.${name}` : name);
    } else {
      found.push({ key: prefix, schema });
    }
  };
  walk(configSchema, "");
  leavesCache = found;
  return found;
}

/** All configuration keys, dotted. */
export function configKeys(): string[] {
  return leaves().map((l) => l.key);
}

function leafFor(key: string): Leaf {
  const leaf = leaves().find((l) => l.key === key);
  if (!leaf) {
    throw new UserError(`Unknown configuration key "${key}".`, {
      code: "CONFIG_UNKNOWN_KEY",
      hint: `Known keys: ${configKeys().join(", ")}`,
    });
  }
  return leaf;
}

/** Environment variable names for a key: the canonical DAT_UPPER_SNAKE name first, then aliases. */
export function envNamesFor(key: string): string[] {
  const canonical = "DAT_" + key.split(".").map((part) => part.replace(/([a-z0-9])([A-Z])/g, "$1_$2")).join("_").toUpperCase();
  return [canonical, ...(ENV_ALIASES[key] ?? [])];
}

function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length ? `${i.path.join(".")}: ` : "") + i.message).join("; ");
}

/**
 * Validate a value for a key. Strings that do not fit the key's type as they are are read as JSON,
 * so `8780`, `true` and `{"31337": …}` work from the command line and the environment.
 */
function coerce(leaf: Leaf, value: unknown): { ok: true; value: unknown } | { ok: false; message: string } {
  const direct = leaf.schema.safeParse(value);
  if (direct.success && value !== undefined) return { ok: true, value: direct.data };
  if (typeof value === "string") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      return { ok: false, message: direct.success ? "empty value" : describeIssues(direct.error) };
    }
    const again = leaf.schema.safeParse(parsed);
    if (again.success) return { ok: true, value: again.data };
    return { ok: false, message: describeIssues(again.error) };
  }
  return { ok: false, message: direct.success ? "empty value" : describeIssues(direct.error) };
}

/** Parse a value given as text (CLI or environment) for a key; throws a UserError naming `origin`. */
export function parseConfigValue(key: string, value: unknown, origin: string): unknown {
  const leaf = leafFor(key);
  const result = coerce(leaf, value);
  if (!result.ok) {
    throw new UserError(`Invalid value for ${key} from ${origin}: ${result.message}.`, {
      code: "CONFIG_INVALID",
      hint: origin.startsWith("env:") ? `Fix or unset ${origin.slice(4)}.` : `Check the value of ${key}.`,
      data: { key, origin },
    });
  }
  return result.value;
}

function getPath(obj: unknown, key: string): unknown {
  let cur: unknown = obj;
  for (const part of key.split(".")) {
    if (cur === null || typeof cur !== "object" || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function setPath(obj: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split(".");
  let cur = obj;
  for (const part of parts.slice(0, -1)) {
    const next = cur[part];
    if (next === null || typeof next !== "object" || Array.isArray(next)) cur[part] = {};
    cur = cur[part] as Record<string, unknown>;
  }
  const last = parts[parts.length - 1];
  if (value === undefined) delete cur[last];
  else cur[last] = value;
}

/**
 * Read the raw config file. A missing file (or missing home) is `{}`; a file that cannot be read or
 * parsed is a UserError naming it, and the file is left untouched.
 */
export function readConfigFile(home: string): ConfigFileContent {
  const file = configPath(home);
  if (inspectHome(home) === "missing") return {};
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new UserError(`Cannot read the config file ${file}: ${(error as Error).message}`, {
      code: "CONFIG_UNREADABLE",
      hint: `Check the permissions of ${file}.`,
      data: { file },
      cause: error,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UserError(`The config file ${file} is not valid JSON: ${(error as Error).message}`, {
      code: "CONFIG_CORRUPT",
      hint: `Fix or remove ${file}; dat will not overwrite it.`,
      data: { file },
      cause: error,
    });
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new UserError(`The config file ${file} must hold a JSON object.`, {
      code: "CONFIG_CORRUPT",
      hint: `Fix or remove ${file}; dat will not overwrite it.`,
      data: { file },
    });
  }
  return parsed as ConfigFileContent;
}

/** The value a flag gives for a key, if any. Flags already folded with env by the context are not flags. */
function flagValue(ctx: LoadConfigContext, key: string): { value: string; flag: string } | undefined {
  const env = ctx.env;
  if (key === "chain.rpcUrl" && ctx.rpcUrl !== undefined && ctx.rpcUrl !== env.DAT_RPC_URL) return { value: ctx.rpcUrl, flag: "--rpc-url" };
  if (key === "orchestrator.url" && ctx.orchestrator !== undefined && ctx.orchestrator !== env.DAT_ORCHESTRATOR) {
    return { value: ctx.orchestrator, flag: "--orchestrator" };
  }
  return undefined;
}

/**
 * Resolve the configuration: flags > DAT_* environment > $DAT_HOME/config.json > defaults.
 * Throws a UserError for a corrupt file or an invalid value, naming where the value came from.
 */
export async function loadConfig(ctx: LoadConfigContext): Promise<ResolvedConfig> {
  const file = configPath(ctx.home);
  const fileContent = readConfigFile(ctx.home);
  const nested: Record<string, unknown> = {};
  const sources: Record<string, ConfigSource> = {};
  const entries: ConfigEntry[] = [];

  for (const leaf of leaves()) {
    let value: unknown;
    let source: ConfigSource = "unset";
    const flag = flagValue(ctx, leaf.key);
    if (flag) {
      const result = coerce(leaf, flag.value);
      if (!result.ok) throw new UsageError(`Invalid ${flag.flag}: ${result.message}.`, { code: "USAGE", data: { key: leaf.key } });
      value = result.value;
      source = "flag";
    }
    if (source === "unset") {
      for (const name of envNamesFor(leaf.key)) {
        const raw = ctx.env[name];
        if (raw === undefined || raw === "") continue;
        value = parseConfigValue(leaf.key, raw, `env:${name}`);
        source = `env:${name}`;
        break;
      }
    }
    if (source === "unset") {
      const raw = getPath(fileContent, leaf.key);
      if (raw !== undefined) {
        const result = coerce(leaf, raw);
        if (!result.ok) {
          throw new UserError(`Invalid value for ${leaf.key} in the config file ${file}: ${result.message}.`, {
            code: "CONFIG_INVALID",
            hint: `Fix it with: dat config set ${leaf.key} <value>  (or edit ${file})`,
            data: { file, key: leaf.key },
          });
        }
        value = result.value;
        source = "file";
      }
    }
    if (source === "unset") {
      value = leaf.schema.parse(undefined);
      if (value !== undefined) source = "default";
    }
    setPath(nested, leaf.key, value);
    sources[leaf.key] = source;
    entries.push({ key: leaf.key, value, source });
  }

  const parsed = configSchema.safeParse(nested);
  if (!parsed.success) {
    throw new UserError(`Invalid configuration: ${describeIssues(parsed.error)}.`, { code: "CONFIG_INVALID", data: { file } });
  }
  return { values: parsed.data, sources, entries, file };
}

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

/** The value and source of one key of a resolved configuration. */
export function getConfigEntry(config: ResolvedConfig, key: string): ConfigEntry {
  leafFor(key);
  return config.entries.find((e) => e.key === key)!;
}
