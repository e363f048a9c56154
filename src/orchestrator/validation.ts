/**
 * The job's validation set: a CSV file on the orchestrator's machine with a header row, numeric
 * feature columns and one label column. Read into memory (validation sets are small).
 */
import fs from "node:fs";
import type * as tf from "@tensorflow/tfjs";
import { NotFoundError, UserError } from "../core/errors.js";
import type { DataSource } from "../train/data/source.js";

/** Opens a validation CSV as a DataSource whose features fit `model`'s input. */
export async function openValidationSource(file: string, labelColumn: string, model: tf.LayersModel): Promise<DataSource> {
  if (!fs.existsSync(file)) {
    throw new NotFoundError(`Validation file ${file} does not exist.`, { code: "VALIDATION_NOT_FOUND" });
  }
  const { arraySource } = await import("../train/data/source.js");
  const lines = (await fs.promises.readFile(file, "utf8")).split(/\r?\n/).filter((l) => l.trim() !== "");
  const header = (lines.shift() ?? "").split(",").map((h) => h.trim());
  const labelIndex = header.indexOf(labelColumn);
  if (labelIndex < 0) {
    throw new UserError(`Validation file ${file} has no column "${labelColumn}".`, {
      code: "VALIDATION_NO_LABEL",
      details: [`columns: ${header.join(", ")}`],
    });
  }
  const width = header.length - 1;
  const x = new Float32Array(lines.length * width);
  const y = new Float32Array(lines.length);
  lines.forEach((line, row) => {
    const cells = line.split(",");
    if (cells.length !== header.length) {
      throw new UserError(`${file}:${row + 2} has ${cells.length} columns, the header ${header.length}.`, { code: "VALIDATION_MALFORMED" });
    }
    let k = 0;
    cells.forEach((cell, col) => {
      const v = Number(cell);
      if (cell.trim() === "" || !Number.isFinite(v)) {
        throw new UserError(`${file}:${row + 2} column ${header[col]} is not a number.`, { code: "VALIDATION_MALFORMED" });
      }
      if (col === labelIndex) y[row] = v;
      else x[row * width + k++] = v;
    });
  });
  const inputShape = (model.inputs[0].shape ?? []).slice(1).map((d) => d ?? 1);
  const featureShape = inputShape.length && inputShape.reduce((a, b) => a * b, 1) === width ? inputShape : [width];
  return arraySource(file, x, y, featureShape);
}
