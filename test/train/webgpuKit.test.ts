/**
 * `npm run gpu-kit` builds a kit that runs from a copy outside the checkout, without network where
 * `unshare -n` can cut it, and reports both backends, their ratio and the delta agreement. Built
 * without node and the .deb (this machine has both); skipped, with the reason, where Dawn finds no
 * adapter.
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { probeBackends } from "../../src/train/backends.js";
import { repoRoot } from "../cli/helpers.js";

const probe = (await probeBackends({ allowSoftwareGpu: true })).find((r) => r.name === "webgpu")!;
if (!probe.available) console.warn(`[gpu kit test skipped] ${probe.reason}${probe.hint ? ` — ${probe.hint}` : ""}`);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dat-gpu-kit-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!probe.available)("the offline GPU kit", () => {
  it("builds under 60 MiB and trains the fixture CNN on webgpu and wasm from a copy, deltas within 1e-5", () => {
    // Prepare
    const kit = path.join(dir, "kit");
    execFileSync(process.execPath, [path.join(repoRoot, "node_modules/tsx/dist/cli.mjs"), "scripts/gpu-kit.ts", "--no-node", "--no-deb", "--out", kit], { cwd: repoRoot, stdio: "pipe" });
    const copy = path.join(dir, "copy");
    fs.cpSync(kit, copy, { recursive: true });
    const noNetwork = spawnSync("unshare", ["-n", "true"]).status === 0;
    // Execute
    const command = [...(noNetwork ? ["unshare", "-n"] : []), "sh", path.join(copy, "run.sh"), "--allow-software-gpu", "--quick", "--fixture-only"];
    const run = spawnSync(command[0], command.slice(1), { cwd: dir, encoding: "utf8", timeout: 600_000 });
    // Assert
    expect(run.status, run.stderr).toBe(0);
    const line = run.stdout.trim().split("\n").pop()!;
    const report = JSON.parse(line);
    expect(report).toMatchObject({ kit: "dat-gpu-kit", ok: true, adapter: { software: probe.adapter!.software } });
    expect(report.results).toHaveLength(1);
    const [fixture] = report.results;
    expect(fixture.wasmSamplesPerSec).toBeGreaterThan(0);
    expect(fixture.webgpuSamplesPerSec).toBeGreaterThan(0);
    expect(fixture.ratio).toBeCloseTo(fixture.webgpuSamplesPerSec / fixture.wasmSamplesPerSec, 2);
    expect(fixture.maxAbsDiff).toBeLessThanOrEqual(1e-5);
    expect(run.stdout).toMatch(/webgpu samples\/s/);
  }, 600_000);
});
