import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { privateKeyToAccount } from "viem/accounts";
import { afterEach, describe, expect, it } from "vitest";
import { jsonOf, removeTempDirs, repoRoot, runDat, tempDir } from "./helpers.js";

const KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
const PASS = { DAT_PASSPHRASE: "test passphrase" };

afterEach(removeTempDirs);

describe("dat (global)", () => {
  it("prints help with every foundation command and exits 0", async () => {
    const run = await runDat(["--help"]);

    expect(run.code).toBe(0);
    for (const word of ["init", "config", "doctor", "--home", "--json", "--quiet", "--yes", "--orchestrator", "--rpc-url"]) {
      expect(run.stdout).toContain(word);
    }
  });

  it("shows an example in each command's help", async () => {
    for (const args of [["init", "--help"], ["config", "set", "--help"], ["doctor", "--help"]]) {
      const run = await runDat(args);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain("Examples:");
    }
  });

  it("prints the package version", async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8"));

    const run = await runDat(["--version"]);

    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(pkg.version);
  });

  it("exits 2 on an unknown flag, with one JSON error document under --json", async () => {
    const human = await runDat(["--bogus-flag"]);
    const json = await runDat(["--json", "config", "list", "--bogus-flag"]);
    const unknownCommand = await runDat(["--json", "frobnicate"]);

    expect(human.code).toBe(2);
    expect(human.stderr).toMatch(/unknown option/i);
    expect(json.code).toBe(2);
    expect(jsonOf(json).error.code).toBe("USAGE");
    expect(jsonOf(json).error.message).toMatch(/bogus-flag/);
    expect(unknownCommand.code).toBe(2);
    expect(jsonOf(unknownCommand).error.code).toBe("USAGE");
  });

  it("does not load tfjs, viem, hardhat, fastify, lighthouse or the wallet library for --help", async () => {
    const { dir } = tempDir();
    const record = path.join(dir, "imports.txt");
    const nodeArgs = ["--import", path.join(repoRoot, "test/cli/fixtures/record-imports.mjs")];

    const help = await runDat(["--help"], { nodeArgs, env: { DAT_RECORD_IMPORTS: record } });
    const helpImports = fs.readFileSync(record, "utf8");
    fs.rmSync(record);
    // Control: a command that does need zod shows up in the record, so the recorder works.
    const list = await runDat(["--home", path.join(dir, "h"), "config", "list"], { nodeArgs, env: { DAT_RECORD_IMPORTS: record } });
    const listImports = fs.readFileSync(record, "utf8");

    expect(help.code).toBe(0);
    expect(list.code).toBe(0);
    expect(helpImports).toContain("commander");
    for (const heavy of ["@tensorflow", "/viem/", "/hardhat/", "/fastify/", "@lighthouse-web3", "@ethereumjs", "better-sqlite3", "/zod/", "/undici/"]) {
      expect(helpImports, heavy).not.toContain(heavy);
    }
    expect(listImports).toContain("/zod/");
  });
});

describe("dat init", () => {
  it("creates home, config and a 0600 keystore, prints the address, and refuses a second run", async () => {
    const { home } = tempDir();

    const first = await runDat(["--home", home, "--json", "init"], { env: PASS });
    const keystore = path.join(home, "keystore.json");
    const before = fs.readFileSync(keystore, "utf8");
    const second = await runDat(["--home", home, "--json", "init"], { env: PASS });
    const human = await runDat(["--home", home, "init"], { env: PASS });

    expect(first.code, first.stderr).toBe(0);
    const result = jsonOf(first);
    expect(result.address).toMatch(/^0x[0-9a-fA-F]{40}$/);
    expect(fs.statSync(keystore).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(path.join(home, "config.json"))).toBe(true);
    expect(fs.existsSync(path.join(home, "dat.db"))).toBe(true);
    expect(second.code).toBe(3);
    expect(jsonOf(second).error.code).toBe("WALLET_EXISTS");
    expect(human.code).toBe(3);
    expect(human.stderr).toContain("--force");
    expect(human.stderr).not.toContain("    at ");
    expect(fs.readFileSync(keystore, "utf8")).toBe(before);
  });

  it("replaces the wallet with --force and keeps the old keystore as a backup", async () => {
    const { home } = tempDir();
    const first = jsonOf(await runDat(["--home", home, "--json", "init"], { env: PASS }));

    const forced = await runDat(["--home", home, "--json", "init", "--force"], { env: PASS });

    expect(forced.code).toBe(0);
    const result = jsonOf(forced);
    expect(result.address).not.toBe(first.address);
    expect(JSON.parse(fs.readFileSync(result.backup, "utf8")).address.toLowerCase()).toBe(first.address.slice(2).toLowerCase());
  });

  it("imports a key from stdin or DAT_PRIVATE_KEY", async () => {
    const a = tempDir();
    const b = tempDir();
    const expected = privateKeyToAccount(KEY).address;

    const fromStdin = await runDat(["--home", a.home, "--json", "init", "--import"], { env: PASS, input: KEY + "\n" });
    const fromEnv = await runDat(["--home", b.home, "--json", "init", "--import"], { env: { ...PASS, DAT_PRIVATE_KEY: KEY.slice(2) } });

    expect(fromStdin.code, fromStdin.stderr).toBe(0);
    expect(jsonOf(fromStdin).address).toBe(expected);
    expect(jsonOf(fromStdin).imported).toBe(true);
    expect(jsonOf(fromEnv).address).toBe(expected);
    expect(fs.readFileSync(path.join(a.home, "keystore.json"), "utf8")).not.toContain(KEY.slice(2));
  });

  it("refuses a malformed imported key and a missing passphrase without creating a wallet", async () => {
    const { home } = tempDir();

    const badKey = await runDat(["--home", home, "--json", "init", "--import"], { env: PASS, input: "0xnot-a-key\n" });
    const emptyKey = await runDat(["--home", home, "--json", "init", "--import"], { env: PASS, input: "" });
    const noPass = await runDat(["--home", home, "--json", "init"]);

    expect(badKey.code).toBe(3);
    expect(jsonOf(badKey).error.code).toBe("BAD_PRIVATE_KEY");
    expect(badKey.stdout + badKey.stderr).not.toContain("not-a-key");
    expect(jsonOf(emptyKey).error.code).toBe("BAD_PRIVATE_KEY");
    expect(noPass.code).toBe(3);
    expect(jsonOf(noPass).error.code).toBe("PASSPHRASE_REQUIRED");
    expect(jsonOf(noPass).error.hint).toContain("DAT_PASSPHRASE");
    expect(fs.existsSync(path.join(home, "keystore.json"))).toBe(false);
  });
});

describe("dat config", () => {
  it("sets, gets and lists values with their sources", async () => {
    const { home } = tempDir();

    const set = await runDat(["--home", home, "config", "set", "serve.port", "9001"]);
    const get = await runDat(["--home", home, "config", "get", "serve.port"]);
    const list = jsonOf(await runDat(["--home", home, "--json", "config", "list"], { env: { DAT_TRAIN_BACKEND: "wasm" } }));
    const flag = jsonOf(await runDat(["--home", home, "--json", "--rpc-url", "http://10.0.0.1:8545", "config", "get", "chain.rpcUrl"]));
    const envGet = jsonOf(await runDat(["--home", home, "--json", "config", "get", "chain.rpcUrl"], { env: { DAT_RPC_URL: "http://10.0.0.2:8545" } }));

    expect(set.code, set.stderr).toBe(0);
    expect(get.stdout.trim()).toBe("9001");
    const byKey = Object.fromEntries(list.entries.map((e: any) => [e.key, e]));
    expect(byKey["serve.port"]).toMatchObject({ value: 9001, source: "file" });
    expect(byKey["train.backend"]).toMatchObject({ value: "wasm", source: "env:DAT_TRAIN_BACKEND" });
    expect(byKey["chain.rpcUrl"]).toMatchObject({ value: "http://127.0.0.1:8545", source: "default" });
    expect(flag).toEqual({ key: "chain.rpcUrl", value: "http://10.0.0.1:8545", source: "flag" });
    expect(envGet.source).toBe("env:DAT_RPC_URL");
  });

  it("rejects bad keys and values with clear errors and exit codes", async () => {
    const { home } = tempDir();

    const badValue = await runDat(["--home", home, "--json", "config", "set", "serve.port", "high"]);
    const badKey = await runDat(["--home", home, "--json", "config", "get", "serve.nope"]);
    const unset = await runDat(["--home", home, "--json", "config", "get", "orchestrator.url"]);
    const missingArg = await runDat(["--home", home, "config", "set", "serve.port"]);

    expect(badValue.code).toBe(3);
    expect(jsonOf(badValue).error.code).toBe("CONFIG_INVALID");
    expect(jsonOf(badKey).error.code).toBe("CONFIG_UNKNOWN_KEY");
    expect(unset.code).toBe(4);
    expect(missingArg.code).toBe(2);
  });

  it("reports a corrupt config file, leaves it untouched, and init refuses too", async () => {
    const { home } = tempDir();
    fs.mkdirSync(home);
    const file = path.join(home, "config.json");
    fs.writeFileSync(file, "{ this is not json");

    const list = await runDat(["--home", home, "config", "list"]);
    const set = await runDat(["--home", home, "--json", "config", "set", "serve.port", "1"]);
    const init = await runDat(["--home", home, "--json", "init"], { env: PASS });

    expect(list.code).toBe(3);
    expect(list.stderr).toContain(file);
    expect(list.stderr).not.toContain("    at ");
    expect(jsonOf(set).error.code).toBe("CONFIG_CORRUPT");
    expect(jsonOf(init).error.code).toBe("CONFIG_CORRUPT");
    expect(fs.readFileSync(file, "utf8")).toBe("{ this is not json");
    expect(fs.readdirSync(home)).toEqual(["config.json"]);
  });

  it("refuses a home that is a file", async () => {
    const { dir } = tempDir();
    const home = path.join(dir, "file-home");
    fs.writeFileSync(home, "keep me");

    const list = await runDat(["--home", home, "--json", "config", "list"]);
    const init = await runDat(["--home", home, "--json", "init"], { env: PASS });

    expect(list.code).toBe(3);
    expect(jsonOf(list).error.code).toBe("HOME_NOT_FOLDER");
    expect(jsonOf(init).error.code).toBe("HOME_NOT_FOLDER");
    expect(fs.readFileSync(home, "utf8")).toBe("keep me");
  });
});

describe("dat doctor", () => {
  it("reports every check as one JSON document and exits 0 when what is configured works", async () => {
    const { home } = tempDir();
    await runDat(["--home", home, "init"], { env: PASS });

    const run = await runDat(["--home", home, "--json", "doctor"]);

    expect(run.code, run.stdout + run.stderr).toBe(0);
    const report = jsonOf(run);
    expect(report.ok).toBe(true);
    expect(report.checks.map((c: any) => c.name)).toEqual(
      expect.arrayContaining(["node", "home", "config", "wallet", "database", "gpu", "backends", "chain", "orchestrator"]),
    );
    expect(report.checks.find((c: any) => c.name === "database").summary).toContain("schema version");
    expect(report.backends.some((b: any) => b.available)).toBe(true);
  });

  it("exits 7 when a configured orchestrator is unreachable or the keystore is readable by others", async () => {
    const { home } = tempDir();
    await runDat(["--home", home, "init"], { env: PASS });
    fs.chmodSync(path.join(home, "keystore.json"), 0o644);

    // Port 9 (discard) on loopback is closed on test machines: the connection is refused at once.
    const run = await runDat(["--home", home, "--json", "--orchestrator", "http://127.0.0.1:9", "doctor"]);

    expect(run.code).toBe(7);
    const report = jsonOf(run);
    expect(report.ok).toBe(false);
    expect(report.checks.find((c: any) => c.name === "orchestrator").status).toBe("fail");
    expect(report.checks.find((c: any) => c.name === "wallet").summary).toContain("chmod 600");
  });

  it("refuses a database from a newer dat: doctor exits 7, init exits 3, nothing changes", async () => {
    const { home } = tempDir();
    fs.mkdirSync(home);
    const dbFile = path.join(home, "dat.db");
    const raw = new Database(dbFile);
    raw.pragma("user_version = 999");
    raw.close();
    const before = fs.readFileSync(dbFile);

    const doctor = await runDat(["--home", home, "--json", "doctor"]);
    const init = await runDat(["--home", home, "--json", "init"], { env: PASS });

    expect(doctor.code).toBe(7);
    expect(jsonOf(doctor).checks.find((c: any) => c.name === "database").status).toBe("fail");
    expect(init.code).toBe(3);
    expect(jsonOf(init).error.code).toBe("DB_TOO_NEW");
    expect(fs.readFileSync(dbFile).equals(before)).toBe(true);
    expect(fs.readdirSync(home).sort()).toEqual(["dat.db"]);
  });
});
