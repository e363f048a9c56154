import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { envNamesFor, loadConfig, readConfigFile, setConfigValue, unsetConfigValue, updateConfig } from "../../src/config/index.js";
import { DatError } from "../../src/core/errors.js";

const homes: string[] = [];
function tempHome(files: Record<string, string> = {}): string {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "dat-config-"));
  homes.push(home);
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(home, name), content);
  return home;
}
afterEach(() => {
  for (const h of homes.splice(0)) fs.rmSync(h, { recursive: true, force: true });
});

async function codeOf(run: () => unknown): Promise<string | undefined> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(DatError);
    return (error as DatError).code;
  }
  return undefined;
}

describe("loadConfig precedence", () => {
  it("uses defaults when nothing is set", async () => {
    const home = tempHome();

    const config = await loadConfig({ home, env: {} });

    expect(config.values.chain.rpcUrl).toBe("http://127.0.0.1:8545");
    expect(config.values.serve.port).toBe(8780);
    expect(config.sources["chain.rpcUrl"]).toBe("default");
    expect(config.sources["orchestrator.url"]).toBe("unset");
    expect(config.values.orchestrator.url).toBeUndefined();
  });

  it("ranks flags over DAT_* env over the file over defaults, and names each source", async () => {
    const home = tempHome({
      "config.json": JSON.stringify({ chain: { rpcUrl: "http://file:1" }, serve: { port: 1111, host: "0.0.0.0" }, train: { backend: "wasm" } }),
    });
    const env = { DAT_CHAIN_RPC_URL: "http://env:2", DAT_SERVE_PORT: "2222" };

    const fileAndEnv = await loadConfig({ home, env });
    const withFlag = await loadConfig({ home, env, flags: { rpcUrl: "http://flag:3" } });

    expect(fileAndEnv.values.chain.rpcUrl).toBe("http://env:2");
    expect(fileAndEnv.sources["chain.rpcUrl"]).toBe("env:DAT_CHAIN_RPC_URL");
    expect(fileAndEnv.values.serve.port).toBe(2222);
    expect(fileAndEnv.sources["serve.port"]).toBe("env:DAT_SERVE_PORT");
    expect(fileAndEnv.values.serve.host).toBe("0.0.0.0");
    expect(fileAndEnv.sources["serve.host"]).toBe("file");
    expect(fileAndEnv.values.train.backend).toBe("wasm");
    expect(fileAndEnv.sources["store.kind"]).toBe("default");
    expect(withFlag.values.chain.rpcUrl).toBe("http://flag:3");
    expect(withFlag.sources["chain.rpcUrl"]).toBe("flag");
  });

  it("accepts DAT_RPC_URL and DAT_ORCHESTRATOR as short forms, after the canonical names", async () => {
    const home = tempHome();

    const short = await loadConfig({ home, env: { DAT_RPC_URL: "http://short:1", DAT_ORCHESTRATOR: "http://orch:2" } });
    const both = await loadConfig({ home, env: { DAT_RPC_URL: "http://short:1", DAT_CHAIN_RPC_URL: "http://long:1" } });
    // The CLI context folds DAT_RPC_URL into ctx.rpcUrl; that is still the environment, not a flag.
    const folded = await loadConfig({ home, env: { DAT_RPC_URL: "http://short:1" }, flags: { rpcUrl: "http://short:1" } });

    expect(short.values.chain.rpcUrl).toBe("http://short:1");
    expect(short.sources["chain.rpcUrl"]).toBe("env:DAT_RPC_URL");
    expect(short.values.orchestrator.url).toBe("http://orch:2");
    expect(both.values.chain.rpcUrl).toBe("http://long:1");
    expect(folded.sources["chain.rpcUrl"]).toBe("env:DAT_RPC_URL");
  });

  it("maps dotted keys to DAT_ upper snake case", () => {
    expect(envNamesFor("chain.rpcUrl")).toEqual(["DAT_CHAIN_RPC_URL", "DAT_RPC_URL"]);
    expect(envNamesFor("store.lighthouse.uploadUrl")).toEqual(["DAT_STORE_LIGHTHOUSE_UPLOAD_URL"]);
    expect(envNamesFor("infer.balanceCacheSeconds")).toEqual(["DAT_INFER_BALANCE_CACHE_SECONDS"]);
  });

  it("reads JSON values (records) from the environment", async () => {
    const home = tempHome();
    const deployment = { token: "0x" + "1".repeat(40), registry: "0x" + "2".repeat(40), distributor: "0x" + "3".repeat(40), blockNumber: 7 };

    const config = await loadConfig({ home, env: { DAT_CHAIN_DEPLOYMENTS: JSON.stringify({ "31337": deployment }), DAT_CHAIN_CHAIN_ID: "31337" } });

    expect(config.values.chain.deployments["31337"]).toEqual(deployment);
    expect(config.values.chain.chainId).toBe(31337);
  });
});

describe("bad configuration input", () => {
  it("names the environment variable holding an invalid value", async () => {
    const home = tempHome();

    const err = await loadConfig({ home, env: { DAT_SERVE_PORT: "ninety" } }).catch((e) => e);
    const badUrl = await loadConfig({ home, env: { DAT_RPC_URL: "not a url" } }).catch((e) => e);
    const badEnum = await loadConfig({ home, env: { DAT_TRAIN_BACKEND: "quantum" } }).catch((e) => e);

    expect(err.code).toBe("CONFIG_INVALID");
    expect(err.message).toContain("DAT_SERVE_PORT");
    expect(badUrl.message).toContain("DAT_RPC_URL");
    expect(badEnum.code).toBe("CONFIG_INVALID");
  });

  it("rejects an invalid flag value as a usage error", async () => {
    const home = tempHome();

    const err = await loadConfig({ home, env: {}, flags: { orchestrator: "ftp://nope" } }).catch((e) => e);

    expect(err.code).toBe("USAGE");
    expect(err.message).toContain("--orchestrator");
  });

  it("reports a corrupt config file by name and never overwrites it", async () => {
    const corrupt = '{"chain": {"rpcUrl": ';
    const home = tempHome({ "config.json": corrupt });
    const file = path.join(home, "config.json");

    const loadErr = await loadConfig({ home, env: {} }).catch((e) => e);
    const setCode = await codeOf(() => setConfigValue(home, "serve.port", "9000"));
    const unsetCode = await codeOf(() => unsetConfigValue(home, "serve.port"));

    expect(loadErr.code).toBe("CONFIG_CORRUPT");
    expect(loadErr.message).toContain(file);
    expect(setCode).toBe("CONFIG_CORRUPT");
    expect(unsetCode).toBe("CONFIG_CORRUPT");
    expect(fs.readFileSync(file, "utf8")).toBe(corrupt);
  });

  it("rejects a config file that is not an object, and one with an invalid value, naming the file", async () => {
    const arrayHome = tempHome({ "config.json": "[1,2]" });
    const badHome = tempHome({ "config.json": JSON.stringify({ serve: { port: 70000 } }) });

    const arrayErr = await loadConfig({ home: arrayHome, env: {} }).catch((e) => e);
    const badErr = await loadConfig({ home: badHome, env: {} }).catch((e) => e);

    expect(arrayErr.code).toBe("CONFIG_CORRUPT");
    expect(badErr.code).toBe("CONFIG_INVALID");
    expect(badErr.message).toContain("serve.port");
    expect(badErr.message).toContain(path.join(badHome, "config.json"));
  });

  it("reports an unreadable config file (a folder in its place)", async () => {
    const home = tempHome();
    fs.mkdirSync(path.join(home, "config.json"));

    const err = await loadConfig({ home, env: {} }).catch((e) => e);

    expect(err.code).toBe("CONFIG_UNREADABLE");
  });

  it("refuses a home that is a file", async () => {
    const dir = tempHome();
    const home = path.join(dir, "not-a-folder");
    fs.writeFileSync(home, "x");

    const loadErr = await loadConfig({ home, env: {} }).catch((e) => e);
    const setCode = await codeOf(() => setConfigValue(home, "serve.port", 1));

    expect(loadErr.code).toBe("HOME_NOT_FOLDER");
    expect(setCode).toBe("HOME_NOT_FOLDER");
    expect(fs.readFileSync(home, "utf8")).toBe("x");
  });
});

describe("saving configuration", () => {
  it("stores typed values, keeps unknown keys, and writes the file with mode 0600", async () => {
    const home = tempHome({ "config.json": JSON.stringify({ custom: { mine: true } }) });

    const stored = await setConfigValue(home, "serve.port", "9000");
    await setConfigValue(home, "chain.rpcUrl", "http://127.0.0.1:9545");
    const config = await loadConfig({ home, env: {} });
    const raw = readConfigFile(home);

    expect(stored).toBe(9000);
    expect(config.values.serve.port).toBe(9000);
    expect(config.sources["serve.port"]).toBe("file");
    expect(raw.custom).toEqual({ mine: true });
    expect(fs.statSync(path.join(home, "config.json")).mode & 0o777).toBe(0o600);
  });

  it("refuses invalid values and unknown keys without touching the file", async () => {
    const home = tempHome();
    await setConfigValue(home, "serve.port", 9000);
    const before = fs.readFileSync(path.join(home, "config.json"), "utf8");

    const badValue = await codeOf(() => setConfigValue(home, "serve.port", "-3"));
    const unknown = await codeOf(() => setConfigValue(home, "serve.nope", "1"));
    const badUpdate = await codeOf(() => updateConfig(home, (cfg) => ({ ...cfg, train: { backend: "abacus" } })));

    expect(badValue).toBe("CONFIG_INVALID");
    expect(unknown).toBe("CONFIG_UNKNOWN_KEY");
    expect(badUpdate).toBe("CONFIG_INVALID");
    expect(fs.readFileSync(path.join(home, "config.json"), "utf8")).toBe(before);
  });

  it("unsets a key back to its default and creates a missing home", async () => {
    const home = path.join(tempHome(), "new-home");
    await setConfigValue(home, "serve.port", 9000);

    await unsetConfigValue(home, "serve.port");
    const config = await loadConfig({ home, env: {} });

    expect(config.values.serve.port).toBe(8780);
    expect(config.sources["serve.port"]).toBe("default");
  });

  it("keeps every update when many run one after another through updateConfig", async () => {
    const home = tempHome();

    await Promise.all(Array.from({ length: 20 }, (_, i) => updateConfig(home, (cfg) => ({ ...cfg, [`k${i}`]: i }))));
    const raw = readConfigFile(home);

    expect(Object.keys(raw).filter((k) => k.startsWith("k"))).toHaveLength(20);
    expect(fs.readdirSync(home).filter((f) => f.endsWith(".tmp") || f.endsWith(".lock"))).toEqual([]);
  });
});
