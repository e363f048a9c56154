/**
 * The settable keys of the configuration (the leaves of its schema), their environment names, and
 * how a value given as text is validated for a key. Pure: no file or process access.
 */
import { z } from "zod";
import { UserError } from "../core/errors.js";
import { configSchema, ENV_ALIASES, SECRET_KEYS } from "./schema.js";

/** One settable key: a leaf of the schema. */
export interface Leaf {
  key: string;
  schema: z.ZodType;
}

let leavesCache: Leaf[] | undefined;

/** Every settable key (a leaf of the schema), in schema order. */
export function leaves(): Leaf[] {
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

/** The leaf of a key; an unknown key is a UserError listing the known ones. */
export function leafFor(key: string): Leaf {
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

/** Zod issues as one line. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length ? `${i.path.join(".")}: ` : "") + i.message).join("; ");
}

/**
 * Validate a value for a key. Strings that do not fit the key's type as they are are read as JSON,
 * so `8780`, `true` and `{"31337": …}` work from the command line and the environment.
 */
export function coerce(leaf: Leaf, value: unknown): { ok: true; value: unknown } | { ok: false; message: string } {
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
    // The value is echoed (trimmed) so a typo is visible, except for secrets.
    const given = typeof value === "string" && !SECRET_KEYS.has(key) ? ` "${value.length > 40 ? value.slice(0, 40) + "…" : value}"` : "";
    throw new UserError(`Invalid value${given} for ${key} from ${origin}: ${result.message}.`, {
      code: "CONFIG_INVALID",
      hint: origin.startsWith("env:") ? `Fix or unset ${origin.slice(4)}.` : `Check the value of ${key}.`,
      data: { key, origin },
    });
  }
  return result.value;
}

/** The value at a dotted key of a nested object. */
export function getPath(obj: unknown, key: string): unknown {
  let cur: unknown = obj;
  for (const part of key.split(".")) {
    if (cur === null || typeof cur !== "object" || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** Set (or delete, for undefined) the value at a dotted key, creating objects on the way. */
export function setPath(obj: Record<string, unknown>, key: string, value: unknown): void {
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
