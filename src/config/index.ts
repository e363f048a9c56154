/**
 * Configuration: flags > DAT_* environment > $DAT_HOME/config.json > defaults. Resolution is in
 * ./load.ts (with the key rules of ./keys.ts), locked writes of the file in ./write.ts.
 */
export { configSchema, SECRET_KEYS, type DatConfig } from "./schema.js";
export { configKeys, envNamesFor, parseConfigValue } from "./keys.js";
export {
  configPath, getConfigEntry, loadConfig, readConfigFile,
  type ConfigEntry, type ConfigFileContent, type ConfigFlags, type ConfigSource, type LoadConfigOptions, type ResolvedConfig,
} from "./load.js";
export { setConfigValue, unsetConfigValue, updateConfig } from "./write.js";
