/**
 * Configuration resolution. Each key resolves from, in order: command-line flags
 * (--rpc-url, --orchestrator) > DAT_* environment variables > $DAT_HOME/config.json > defaults.
 * `ResolvedConfig.sources` says where every value came from (shown by `dat config list`).
 * Locked writes of the config file live in ./write.ts.
 */
import fs from "node:fs";
import path from "node:path";
import { UsageError, UserError } from "../core/errors.js";
import { configSchema, type DatConfig } from "./schema.js";
import { CONFIG_FILE, inspectHome, resolveHome } from "./home.js";
import { coerce, describeIssues, envNamesFor, getPath, leafFor, leaves, parseConfigValue, setPath } from "./keys.js";

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

/** Values of the global flags that name configuration keys (--rpc-url, --orchestrator). */
export interface ConfigFlags {
  rpcUrl?: string;
  orchestrator?: string;
}

export interface LoadConfigOptions {
  /** The dat home; default $DAT_HOME from `env`, else ~/.dat. */
  home?: string;
  /** The environment to read DAT_* variables from (pass process.env, or {} in tests). */
  env: NodeJS.ProcessEnv;
  /** Flag values, highest precedence. */
  flags?: ConfigFlags;
  /** @deprecated Pass `flags: { rpcUrl }`; read only when `flags` is absent. */
  rpcUrl?: string;
  /** @deprecated Pass `flags: { orchestrator }`; read only when `flags` is absent. */
  orchestrator?: string;
}

/** Path of the config file of a home. */
export function configPath(home: string): string {
  return path.join(home, CONFIG_FILE);
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

/** The value a flag gives for a key, if any. A flag value the caller folded in from the environment is not a flag. */
function flagValue(options: LoadConfigOptions, key: string): { value: string; flag: string } | undefined {
  const env = options.env;
  const rpcUrl = options.flags ? options.flags.rpcUrl : options.rpcUrl;
  const orchestrator = options.flags ? options.flags.orchestrator : options.orchestrator;
  if (key === "chain.rpcUrl" && rpcUrl !== undefined && rpcUrl !== env.DAT_RPC_URL) return { value: rpcUrl, flag: "--rpc-url" };
  if (key === "orchestrator.url" && orchestrator !== undefined && orchestrator !== env.DAT_ORCHESTRATOR) {
    return { value: orchestrator, flag: "--orchestrator" };
  }
  return undefined;
}

/**
 * Resolve the configuration: flags > DAT_* environment > $DAT_HOME/config.json > defaults.
 * Throws a UserError for a corrupt file or an invalid value, naming where the value came from.
 */
export async function loadConfig(options: LoadConfigOptions): Promise<ResolvedConfig> {
  const home = options.home ?? resolveHome(undefined, options.env);
  const file = configPath(home);
  const fileContent = readConfigFile(home);
  const nested: Record<string, unknown> = {};
  const sources: Record<string, ConfigSource> = {};
  const entries: ConfigEntry[] = [];

  for (const leaf of leaves()) {
    let value: unknown;
    let source: ConfigSource = "unset";
    const flag = flagValue(options, leaf.key);
    if (flag) {
      const result = coerce(leaf, flag.value);
      if (!result.ok) throw new UsageError(`Invalid ${flag.flag}: ${result.message}.`, { code: "USAGE", data: { key: leaf.key } });
      value = result.value;
      source = "flag";
    }
    if (source === "unset") {
      for (const name of envNamesFor(leaf.key)) {
        const raw = options.env[name];
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

/** The value and source of one key of a resolved configuration. */
export function getConfigEntry(config: ResolvedConfig, key: string): ConfigEntry {
  leafFor(key);
  return config.entries.find((e) => e.key === key)!;
}
