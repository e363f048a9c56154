import { NotFoundError } from "../../../core/errors.js";
import { configOptions, type CliContext } from "../../context.js";
import { formatTable } from "../../output.js";
import { getConfigEntry, loadConfig, SECRET_KEYS, setConfigValue, unsetConfigValue, type ConfigEntry } from "../../../config/index.js";

function show(value: unknown): string {
  if (value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function masked(entry: ConfigEntry): unknown {
  return SECRET_KEYS.has(entry.key) && entry.value !== undefined ? "********" : entry.value;
}

export async function configGet(ctx: CliContext, key: string): Promise<void> {
  const config = await loadConfig(configOptions(ctx));
  const entry = getConfigEntry(config, key);
  if (entry.source === "unset") {
    throw new NotFoundError(`${key} is not set.`, { code: "CONFIG_UNSET", hint: `Set it with: dat config set ${key} <value>` });
  }
  ctx.out.result({ key: entry.key, value: entry.value, source: entry.source }, (e) => show(e.value));
}

export async function configSet(ctx: CliContext, key: string, value: string): Promise<void> {
  const stored = await setConfigValue(ctx.home, key, value);
  const config = await loadConfig(configOptions(ctx));
  const entry = getConfigEntry(config, key);
  if (entry.source !== "file") {
    ctx.out.warn(`${key} is saved, but ${entry.source.replace(/^env:/, "the environment variable ")} overrides it here.`);
  }
  const shown = SECRET_KEYS.has(key) ? "********" : stored;
  ctx.out.result({ key, value: shown, file: config.file }, (r, c) => `${c.green("✔")} ${r.key} = ${show(r.value)}`);
}

export async function configUnset(ctx: CliContext, key: string): Promise<void> {
  await unsetConfigValue(ctx.home, key);
  const config = await loadConfig(configOptions(ctx));
  const entry = getConfigEntry(config, key);
  ctx.out.result({ key, value: masked(entry), source: entry.source }, (r) => `${r.key} is now ${r.source === "unset" ? "unset" : `${show(r.value)} (${r.source})`}`);
}

export async function configList(ctx: CliContext): Promise<void> {
  const config = await loadConfig(configOptions(ctx));
  const entries = config.entries.map((e) => ({ key: e.key, value: masked(e), source: e.source }));
  ctx.out.result({ file: config.file, entries }, (r, c) => [
    ...formatTable(
      ["KEY", "VALUE", "SOURCE"],
      r.entries.map((e) => [e.key, show(e.value), e.source]),
    ).map((line, i) => (i === 0 ? c.bold(line) : line)),
  ]);
}
