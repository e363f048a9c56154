/**
 * What a model expects and predicts (input shape, task), read from its layers, and the check that
 * a data set fits it before anything trains.
 */
import type * as tf from "@tensorflow/tfjs";
import { UserError } from "../core/errors.js";
import { describeLabelAt, featureSize, type DataSource } from "./data/source.js";

export type Task = { kind: "classification"; classes: number; fromLogits: boolean } | { kind: "binary" } | { kind: "regression" };

export interface ModelShape {
  /** One sample's input shape (without the batch dimension). */
  inputShape: number[];
  task: Task;
}

/** What the model expects and predicts, read from its input and last layer. */
export function describeModel(model: tf.LayersModel): ModelShape {
  const input = model.inputs[0].shape.slice(1).map((d) => d ?? -1);
  const units = model.outputs[0].shape[model.outputs[0].shape.length - 1] ?? 1;
  const last = model.layers[model.layers.length - 1];
  const activation = String((last.getConfig() as { activation?: unknown }).activation ?? "linear");
  let task: Task;
  if (units > 1) task = { kind: "classification", classes: units, fromLogits: activation !== "softmax" };
  else if (activation === "sigmoid") task = { kind: "binary" };
  else task = { kind: "regression" };
  return { inputShape: input, task };
}

/**
 * Check, before training, evaluating or creating a job, that the data fits the model: same number
 * of features (a flat row may feed an image model of the same size) and, unless `labels` is false,
 * labels inside the model's classes. The one check of dat train, dat job create and dat model eval;
 * each message names the file and states both the data's and the model's shape.
 * @throws UserError DATA_MODEL_MISMATCH / DATA_EMPTY / DATA_LABEL_RANGE.
 */
export function checkDataFitsModel(model: tf.LayersModel, data: DataSource, modelName = "the model", options: { labels?: boolean } = {}): ModelShape {
  const shape = describeModel(model);
  const want = featureSize(shape.inputShape);
  const have = featureSize(data.featureShape);
  const classes = shape.task.kind === "classification" ? shape.task.classes : shape.task.kind === "binary" ? 2 : undefined;
  const expects = `input [${shape.inputShape.join("×")}] (${want} features)${classes !== undefined ? ` and ${classes} classes` : ""}`;
  if (shape.inputShape.some((d) => d < 0) || want !== have) {
    const labels = data.integerLabels && data.maxLabel >= 0 ? ` and labels 0..${data.maxLabel}` : "";
    throw new UserError(
      `${data.name} does not fit ${modelName}: the data has ${have} features per sample [${data.featureShape.join("×")}]${labels}; the model expects ${expects}.`,
      {
        code: "DATA_MODEL_MISMATCH",
        hint: "Pick the model that matches this data (dat model init --from-data <file>), or the --label-column that leaves the right features.",
        data: { file: data.name, modelInput: shape.inputShape, modelClasses: classes ?? null, dataShape: data.featureShape },
      },
    );
  }
  if (data.size === 0) throw new UserError(`${data.name} holds no samples.`, { code: "DATA_EMPTY" });
  if (options.labels !== false && classes !== undefined) {
    if (!data.integerLabels || data.maxLabel >= classes) {
      // Name the first offending row the loader saw: a label that is no class index, else the largest.
      const at = !data.integerLabels ? data.nonClassLabelAt : data.maxLabelAt;
      const where = at ? `${describeLabelAt(at)}: label ${at.value}` : `${data.name}: largest label ${data.maxLabel}${data.integerLabels ? "" : ", some not integers"}`;
      throw new UserError(`${where} is outside the model's ${classes} classes (an integer 0..${classes - 1}); the model expects ${expects}.`, {
        code: "DATA_LABEL_RANGE",
        hint: "Labels must be class indices 0..k−1 of the model's k classes: fix that row, or pick the right --label-column.",
        data: {
          file: at?.file ?? data.name,
          ...(at ? { row: at.row, label: at.value, ...(at.line !== undefined ? { line: at.line } : {}) } : {}),
          modelClasses: classes,
          maxLabel: data.maxLabel,
        },
      });
    }
  }
  return shape;
}
