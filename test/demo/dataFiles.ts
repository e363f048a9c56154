/**
 * Small, clearly learnable data sets written as the files the loaders read (CSV, an IDX pair, a
 * PNG folder), for the `--data` tests. Seeded, so every run writes the same bytes.
 */
import fs from "node:fs";
import path from "node:path";
import { PNG } from "pngjs";
import { seededRandom as rng } from "../../src/core/privacy/index.js";
import { encodeIdx } from "../../src/train/data/idx.js";

/**
 * A CSV of `rows` examples: four numeric features around one centre per class and the class
 * (0…2) in a column named `kind` placed between the features, so only `--label-column kind`
 * finds it.
 */
export function writeClusterCsv(file: string, rows: number, seed = 1): void {
  const random = rng(seed);
  const centres = [
    [0, 0, 1, 1],
    [1, 1, 0, 0],
    [1, 0, 1, 0],
  ];
  const lines = ["a,b,kind,c,d"];
  for (let i = 0; i < rows; i++) {
    const k = i % 3;
    const f = centres[k].map((c) => (c + (random() - 0.5) * 0.4).toFixed(3));
    lines.push([f[0], f[1], String(k), f[2], f[3]].join(","));
  }
  fs.writeFileSync(file, lines.join("\n") + "\n");
}

/** 8×8 gray images of three classes: a bright horizontal band at rows 0–1, 3–4 or 6–7, plus noise. */
function bandImage(k: number, random: () => number): Uint8Array {
  const pixels = new Uint8Array(64);
  for (let r = 0; r < 8; r++) {
    for (let c = 0; c < 8; c++) {
      const lit = r >= k * 3 && r < k * 3 + 2;
      pixels[r * 8 + c] = Math.min(255, Math.round((lit ? 200 : 20) + random() * 40));
    }
  }
  return pixels;
}

/** An IDX pair (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`) in `dir`. */
export function writeBandIdx(dir: string, count: number, seed = 2): void {
  const random = rng(seed);
  const images = new Uint8Array(count * 64);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % 3;
    images.set(bandImage(i % 3, random), i * 64);
  }
  const encoded = encodeIdx(images, count, 8, 8, labels);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "train-images-idx3-ubyte"), encoded.images);
  fs.writeFileSync(path.join(dir, "train-labels-idx1-ubyte"), encoded.labels);
}

/** A PNG folder `<dir>/<class>/<n>.png` with `perClass` band images per class. */
export function writeBandPngFolder(dir: string, perClass: number, seed = 3): void {
  const random = rng(seed);
  for (let k = 0; k < 3; k++) {
    fs.mkdirSync(path.join(dir, String(k)), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const gray = bandImage(k, random);
      const png = new PNG({ width: 8, height: 8 });
      for (let p = 0; p < 64; p++) {
        png.data[p * 4] = png.data[p * 4 + 1] = png.data[p * 4 + 2] = gray[p];
        png.data[p * 4 + 3] = 255;
      }
      fs.writeFileSync(path.join(dir, String(k), `${i}.png`), PNG.sync.write(png));
    }
  }
}
