/**
 * `dat train --backend webgpu` as a user runs it: refused on a software adapter without
 * --allow-software-gpu (cause and fix named), and with it trains the fixture CNN to the delta the
 * wasm backend gives. Skipped, with the reason printed, where Dawn finds no adapter.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { probeBackends } from "../../src/train/backends.js";
import { encodeIdx } from "../../src/train/data/idx.js";
import { readDeltaFiles } from "../../src/train/run.js";
import { jsonOf, removeTempDirs, repoRoot, runDat, tempDir } from "../cli/helpers.js";

const probe = (await probeBackends({ allowSoftwareGpu: true })).find((r) => r.name === "webgpu")!;
if (!probe.available) console.warn(`[webgpu CLI tests skipped] ${probe.reason}${probe.hint ? ` — ${probe.hint}` : ""}`);

/** 48 28×28 images: a bright bar whose row is the label, over seeded noise. */
function writeBars(dir: string): void {
  const count = 48;
  const images = new Uint8Array(count * 784);
  const labels = new Uint8Array(count);
  let state = 12345;
  for (let i = 0; i < count; i++) {
    labels[i] = i % 10;
    for (let p = 0; p < 784; p++) {
      state = (state * 1103515245 + 12345) >>> 0;
      images[i * 784 + p] = (state >>> 24) & 0x3f;
    }
    for (let c = 4; c < 24; c++) images[i * 784 + (4 + 2 * labels[i]) * 28 + c] = 255;
  }
  const encoded = encodeIdx(images, count, 28, 28, labels);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "train-images-idx3-ubyte"), encoded.images);
  fs.writeFileSync(path.join(dir, "train-labels-idx1-ubyte"), encoded.labels);
}

afterAll(removeTempDirs);

describe.skipIf(!probe.available)("dat train --backend webgpu", () => {
  const train = (home: string, data: string, ...extra: string[]) =>
    runDat(["--json", "train", "--model", path.join(repoRoot, "fixtures/cnn-digits"), "--data", data, "--epochs", "1", "--batch-size", "16", "--val-split", "0", "--seed", "3", ...extra], { env: { DAT_HOME: home } });

  it.runIf(probe.adapter?.software)("refuses a software adapter without --allow-software-gpu, naming the cause and the fix", async () => {
    const { dir, home } = tempDir();
    writeBars(path.join(dir, "data"));
    const run = await train(home, path.join(dir, "data"), "--backend", "webgpu");
    expect(run.code).toBe(3);
    const error = jsonOf(run).error;
    expect(error.code).toBe("WEBGPU_SOFTWARE_ADAPTER");
    expect(error.message).toMatch(/software/);
    expect(error.hint).toMatch(/--allow-software-gpu/);
  }, 120_000);

  it("trains the fixture CNN with --allow-software-gpu to wasm's delta within 1e-5", async () => {
    const { dir, home } = tempDir();
    writeBars(path.join(dir, "data"));
    const gpu = await train(home, path.join(dir, "data"), "--backend", "webgpu", "--allow-software-gpu");
    expect(gpu.code, gpu.stderr).toBe(0);
    const wasm = await train(home, path.join(dir, "data"), "--backend", "wasm");
    expect(wasm.code, wasm.stderr).toBe(0);
    const [g, w] = [jsonOf(gpu), jsonOf(wasm)];
    expect([g.backend, w.backend]).toEqual(["webgpu", "wasm"]);
    const [gd, wd] = await Promise.all([readDeltaFiles(g.deltaPath), readDeltaFiles(w.deltaPath)]);
    let max = 0;
    gd.forEach((t, i) => t.data.forEach((v, k) => (max = Math.max(max, Math.abs(v - wd[i].data[k])))));
    expect(gd.some((t) => t.data.some((v) => v !== 0))).toBe(true);
    expect(max).toBeLessThanOrEqual(1e-5);
  }, 240_000);
});
