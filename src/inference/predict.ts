/**
 * Running a loaded tfjs model on parsed inputs.
 */
import * as tf from "@tensorflow/tfjs";
import "../train/quietTfjs.js";
import { UserError } from "../core/errors.js";
import { applyPreprocess, type PreprocessSpec } from "../core/preprocess.js";
import type { ParsedInputs } from "./inputs.js";

/** One input's shape (without the batch dimension) of a single-input Layers model. */
export function modelInputShape(model: tf.LayersModel): number[] {
  if (model.inputs.length !== 1) {
    throw new UserError(`The model has ${model.inputs.length} inputs; dat infer serves single-input models.`, { code: "MODEL_UNSUPPORTED" });
  }
  const shape = model.inputs[0].shape.slice(1);
  if (shape.some((d) => d === null || d <= 0)) {
    throw new UserError(`The model's input shape [${model.inputs[0].shape.join(", ")}] is not fixed.`, { code: "MODEL_UNSUPPORTED" });
  }
  return shape as number[];
}

/**
 * The model's output for every input, flattened (count × outputs). With the job's `preprocess`,
 * the inputs go through the same transform as training and validation first (on a copy).
 * @throws UserError PREPROCESS_NOT_FINITE / PREPROCESS_STATS_MISMATCH for inputs the transform refuses.
 */
export async function predictBatch(model: tf.LayersModel, inputs: ParsedInputs, preprocess?: PreprocessSpec): Promise<Float32Array> {
  const values = preprocess && preprocess.kind !== "none" ? applyPreprocess(preprocess, Float32Array.from(inputs.values)) : inputs.values;
  const output = tf.tidy(() => {
    const x = tf.tensor(values, [inputs.count, ...inputs.shape], "float32");
    const y = model.predict(x);
    return (Array.isArray(y) ? y[0] : y) as tf.Tensor;
  });
  try {
    return (await output.data()) as Float32Array;
  } finally {
    output.dispose();
  }
}
