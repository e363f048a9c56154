/**
 * Real data, CI-sized: a model made by `dat model init --from-data` on Fashion-MNIST images
 * (Debian's dataset-fashion-mnist), trained one epoch on a few hundred images with `dat train`,
 * evaluated with `dat model eval` on held-out test images. Skipped, with the reason printed, where
 * the package is not installed.
 */
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { jsonOf, removeTempDirs, runDat, tempDir } from "../../helpers.js";

const FASHION = "/usr/share/datasets/fashion-mnist";
const files = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"];
const available = files.every((f) => fs.existsSync(path.join(FASHION, f)));
if (!available) console.warn(`skip fashion-mnist tests: ${FASHION} lacks ${files.join(", ")} (apt-get install dataset-fashion-mnist)`);

afterEach(removeTempDirs);

/** The first `count` records of an IDX pair, written as a new (uncompressed) pair under `dir`. */
function writeSubset(dir: string, prefix: "train" | "t10k", count: number): string {
  const images = zlib.gunzipSync(fs.readFileSync(path.join(FASHION, `${prefix}-images-idx3-ubyte.gz`)));
  const labels = zlib.gunzipSync(fs.readFileSync(path.join(FASHION, `${prefix}-labels-idx1-ubyte.gz`)));
  const imageHeader = Buffer.from(images.subarray(0, 16));
  imageHeader.writeUInt32BE(count, 4);
  const labelHeader = Buffer.from(labels.subarray(0, 8));
  labelHeader.writeUInt32BE(count, 4);
  const imagesOut = path.join(dir, `${prefix}-small-images-idx3-ubyte`);
  fs.writeFileSync(imagesOut, Buffer.concat([imageHeader, images.subarray(16, 16 + count * 28 * 28)]));
  fs.writeFileSync(path.join(dir, `${prefix}-small-labels-idx1-ubyte`), Buffer.concat([labelHeader, labels.subarray(8, 8 + count)]));
  return imagesOut;
}

describe.skipIf(!available)("model init / train / eval on Fashion-MNIST", () => {
  it("a CNN from --from-data, trained one epoch on 800 images, scores well above chance on 500 test images", async () => {
    const { dir, home } = tempDir();
    const trainImages = writeSubset(dir, "train", 800);
    const testImages = writeSubset(dir, "t10k", 500);
    const modelDir = path.join(dir, "model");

    const init = await runDat(["--json", "model", "init", modelDir, "--from-data", trainImages]);
    expect(init.code, init.stderr).toBe(0);
    expect(jsonOf(init)).toMatchObject({ template: "cnn", inputs: [28, 28, 1], classes: 10 });
    const before = await runDat(["--json", "model", "eval", "--model", modelDir, "--data", testImages]);
    const train = await runDat(["--json", "--home", home, "train", "--model", modelDir, "--data", trainImages, "--epochs", "1", "--lr", "0.1", "--val-split", "0", "--backend", "wasm"]);
    expect(train.code, train.stderr).toBe(0);
    const run = await runDat(["--json", "model", "eval", "--model", jsonOf(train).modelDir, "--data", testImages]);

    expect(run.code, run.stderr).toBe(0);
    const out = jsonOf(run);
    expect(out.count).toBe(500);
    expect(out.classes).toHaveLength(10);
    // Chance is 0.10; published small CNNs reach ≈ 0.9 on the full set, one short epoch ≈ 0.6.
    expect(out.accuracy).toBeGreaterThan(0.4);
    expect(out.loss).toBeLessThan(jsonOf(before).loss);
  });

  it("refuses the Fashion images on a model made for 64 flat features, naming both shapes (exit 3)", async () => {
    const { dir } = tempDir();
    const testImages = writeSubset(dir, "t10k", 20);
    expect((await runDat(["model", "init", path.join(dir, "flat"), "--inputs", "64", "--classes", "10"])).code).toBe(0);

    const run = await runDat(["model", "eval", "--model", path.join(dir, "flat"), "--data", testImages]);

    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`${testImages} does not fit`);
    expect(run.stderr).toContain("784 features per sample [28×28×1]");
    expect(run.stderr).toContain("input [64] (64 features) and 10 classes");
  });
});
