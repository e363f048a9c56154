/**
 * PNG folder loader: <root>/<class>/*.png, one sub-folder per class. Class folders named by
 * integers use that integer as the label; otherwise labels follow the sorted folder names.
 * The validation pass reads only each PNG's header (size check); pixels are decoded while streaming.
 */
import fs from "node:fs";
import path from "node:path";
import { PNG } from "pngjs";
import { dataError } from "./lines.js";
import type { DataSource, Sample } from "./source.js";

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function pngSize(file: string): { width: number; height: number } {
  const fd = fs.openSync(file, "r");
  try {
    const head = Buffer.alloc(24);
    const read = fs.readSync(fd, head, 0, 24, 0);
    if (read < 24 || !head.subarray(0, 8).equals(PNG_SIGNATURE) || head.toString("ascii", 12, 16) !== "IHDR") {
      throw dataError(file, "not a PNG image.", { code: "DATA_NOT_PNG" });
    }
    return { width: head.readUInt32BE(16), height: head.readUInt32BE(20) };
  } finally {
    fs.closeSync(fd);
  }
}

export interface PngFolderOptions {
  /** 1 (grayscale) or 3 (RGB); from the model's input when known. */
  channels?: number;
  /** [height, width] the model expects; else the first image's size. */
  size?: [number, number];
}

/** The class folders and their labels. */
function pngClasses(root: string): { name: string; label: number }[] {
  const names = fs
    .readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  const numeric = names.every((n) => /^\d+$/.test(n));
  return names.map((name, i) => ({ name, label: numeric ? Number(name) : i }));
}

/** Label facts of a PNG folder: a label is its class folder's, so "where" is the first image of the largest class. */
function labelFacts(files: readonly { file: string; label: number }[]): Pick<DataSource, "maxLabel" | "integerLabels" | "maxLabelAt"> {
  let at = 0;
  files.forEach((f, i) => {
    if (f.label > files[at].label) at = i;
  });
  return { maxLabel: files[at].label, integerLabels: true, maxLabelAt: { file: files[at].file, row: at + 1, value: files[at].label } };
}

/** Open and validate a folder of PNG images, one sub-folder per class. */
export async function openPngFolder(root: string, options: PngFolderOptions = {}): Promise<DataSource> {
  const classes = pngClasses(root);
  if (classes.length === 0) throw dataError(root, "has no class sub-folders (expected <root>/<class>/*.png).", { code: "DATA_EMPTY" });
  const files: { file: string; label: number }[] = [];
  for (const c of classes) {
    const dir = path.join(root, c.name);
    for (const name of fs.readdirSync(dir).sort()) {
      if (name.toLowerCase().endsWith(".png")) files.push({ file: path.join(dir, name), label: c.label });
    }
  }
  if (files.length === 0) throw dataError(root, "holds no .png images.", { code: "DATA_EMPTY" });
  const channels = options.channels ?? 1;
  if (channels !== 1 && channels !== 3) throw dataError(root, `models with ${channels} input channels cannot take PNG images (1 or 3).`, { code: "DATA_MODEL_MISMATCH" });
  let expected = options.size;
  for (const { file } of files) {
    const { width, height } = pngSize(file);
    expected ??= [height, width];
    if (height !== expected[0] || width !== expected[1]) {
      throw dataError(file, `image is ${width}×${height}, expected ${expected[1]}×${expected[0]}.`, { code: "DATA_IMAGE_SIZE" });
    }
  }
  const [height, width] = expected!;
  return {
    name: root,
    featureShape: [height, width, channels],
    size: files.length,
    ...labelFacts(files),
    async *read(): AsyncGenerator<Sample> {
      for (const { file, label } of files) {
        let png: PNG;
        try {
          png = PNG.sync.read(await fs.promises.readFile(file));
        } catch (error) {
          throw dataError(file, `cannot decode PNG: ${(error as Error).message}`, { code: "DATA_NOT_PNG" });
        }
        const x = new Float32Array(height * width * channels);
        for (let p = 0; p < height * width; p++) {
          const r = png.data[p * 4];
          const g = png.data[p * 4 + 1];
          const b = png.data[p * 4 + 2];
          if (channels === 1) x[p] = (0.299 * r + 0.587 * g + 0.114 * b) / 255;
          else {
            x[p * 3] = r / 255;
            x[p * 3 + 1] = g / 255;
            x[p * 3 + 2] = b / 255;
          }
        }
        yield { x, y: label };
      }
    },
  };
}
