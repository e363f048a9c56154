/** Pick the loader for a data path: .csv, .jsonl/.ndjson, IDX (idx3/idx1 names), or a PNG folder. */
import fs from "node:fs";
import path from "node:path";
import { NotFoundError, UserError } from "../../core/errors.js";
import { openCsv, type Normalization } from "./csv.js";
import { openIdx } from "./idx.js";
import { openJsonl } from "./jsonl.js";
import { openPngFolder } from "./pngFolder.js";
import type { DataSource } from "./source.js";

export interface OpenDataOptions {
  labelColumn?: string;
  normalize?: Normalization;
  /** The model's per-sample input shape, used by image loaders (channels, size). */
  inputShape?: number[];
}

/** Open and validate the data at `dataPath`; every malformed row or file fails here, before training. */
export async function openDataSource(dataPath: string, options: OpenDataOptions = {}): Promise<DataSource> {
  if (!fs.existsSync(dataPath)) throw new NotFoundError(`Data path ${dataPath} does not exist.`, { code: "DATA_NOT_FOUND" });
  const base = path.basename(dataPath).toLowerCase().replace(/\.gz$/, "");
  if (fs.statSync(dataPath).isDirectory()) {
    const entries = fs.readdirSync(dataPath);
    if (entries.some((e) => /idx[13]/.test(e))) return openIdx(dataPath);
    const shape = options.inputShape;
    return openPngFolder(dataPath, {
      channels: shape && shape.length === 3 ? shape[2] : undefined,
      size: shape && shape.length === 3 ? [shape[0], shape[1]] : undefined,
    });
  }
  if (base.endsWith(".csv")) return openCsv(dataPath, { labelColumn: options.labelColumn, normalize: options.normalize });
  if (base.endsWith(".jsonl") || base.endsWith(".ndjson")) return openJsonl(dataPath);
  if (/idx3/.test(base) || base.includes("images")) return openIdx(dataPath);
  throw new UserError(`Cannot tell the format of ${dataPath}.`, {
    code: "DATA_FORMAT",
    hint: "Use a .csv, .jsonl, an IDX images file (…-images-idx3-ubyte[.gz]) or a folder of PNGs in one sub-folder per class.",
  });
}
