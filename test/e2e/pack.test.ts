/**
 * The npm package: what `npm pack` puts in the tarball is enough to run `dat` once installed.
 * The tarball is unpacked into a temporary folder next to a link to this checkout's node_modules
 * (what `npm install` would place there), so the test needs no registry and no rebuild of the
 * native modules; a missing file in package.json's "files" shows up as a failing command.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot, runDat, type DatRun } from "../cli/helpers.js";
import { writeTabularCsv } from "../orchestrator/cli.js";

const work = fs.mkdtempSync(path.join(os.tmpdir(), "dat-pack-"));
const installed = path.join(work, "node_modules", "dat-fl");
let files: string[] = [];

function installedDat(args: string[]): Promise<DatRun> {
  // Run from the temporary folder, not the checkout: nothing may resolve through the repo's sources.
  return runDat(args, { bin: path.join(installed, "bin", "dat.js"), cwd: work, env: { DAT_PASSPHRASE: "pack-test-passphrase" } });
}

beforeAll(() => {
  // --ignore-scripts: dist/ is already built by the global setup; a rebuild here would race other tests.
  const out = execFileSync("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", work], {
    cwd: repoRoot,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  const [packed] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
  files = packed.files.map((f) => f.path);
  fs.mkdirSync(installed, { recursive: true });
  execFileSync("tar", ["-xzf", path.join(work, path.basename(packed.filename)), "-C", installed, "--strip-components=1"]);
  // The package's dependencies, as an install would provide them beside it.
  for (const entry of fs.readdirSync(path.join(repoRoot, "node_modules"))) {
    if (entry !== "dat-fl" && entry !== ".bin") {
      fs.symlinkSync(path.join(repoRoot, "node_modules", entry), path.join(work, "node_modules", entry));
    }
  }
}, 120_000);

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe("npm pack", () => {
  it("ships the built CLI, fixtures and contract artifacts, and no tests or TypeScript sources", () => {
    expect(files).toContain("bin/dat.js");
    expect(files).toContain("dist/cli/main.js");
    expect(files).toContain("fixtures/mlp-tabular/model.json");
    expect(files).toContain("LICENSE");
    expect(files.filter((f) => f.startsWith("test/"))).toEqual([]);
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts") && !f.startsWith("src/chain/contracts/"))).toEqual([]);
  });

  it("installs a dat that reports its version and answers --help", async () => {
    const version = await installedDat(["--version"]);
    expect(version.code, version.stderr).toBe(0);
    const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { version: string };
    expect(version.stdout.trim()).toBe(manifest.version);
    const help = await installedDat(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("demo");
  });

  it("initialises a home and trains the packaged fixture model", async () => {
    const home = path.join(work, "home");
    const init = await installedDat(["--home", home, "--json", "init", "--yes"]);
    expect(init.code, init.stderr).toBe(0);
    expect(JSON.parse(init.stdout).address).toMatch(/^0x[0-9a-fA-F]{40}$/);
    const csv = path.join(work, "table.csv");
    await writeTabularCsv(csv, 200, 3);
    const train = await installedDat([
      "--home", home, "--json", "train", "--model", path.join(installed, "fixtures", "mlp-tabular"),
      "--data", csv, "--label-column", "label", "--epochs", "1", "--backend", "wasm",
    ]);
    expect(train.code, train.stderr).toBe(0);
    const result = JSON.parse(train.stdout) as Record<string, unknown>;
    expect(result.backend).toBe("wasm");
  }, 120_000);
});
