/**
 * `dat model eval`'s service: a classifier's accuracy, loss and per-class precision / recall over
 * a labelled data file, after checking that the data fits the model (feature count, classes) and
 * that every sample is finite and labelled inside the model's classes — each refusal names the
 * file, the row and what was expected.
 */
import * as tf from "@tensorflow/tfjs";
import { UserError } from "../core/errors.js";
import { featureSize, type DataSource } from "./data/source.js";
import { checkDataFitsModel, describeModel } from "./modelShape.js";

export interface ClassMetrics {
  class: number;
  /** Samples whose label is this class. */
  count: number;
  /** Samples predicted as this class. */
  predicted: number;
  /** Correct / predicted; null when nothing was predicted as this class. */
  precision: number | null;
  /** Correct / count; null when the data holds no sample of this class. */
  recall: number | null;
}

export interface ModelEvalResult {
  count: number;
  accuracy: number;
  /** Mean softmax cross-entropy (nats), computed from logits where the model ends in a softmax Dense. */
  loss: number;
  classes: ClassMetrics[];
  /** The predicted class of every row, in file order (with `rows: true`). */
  predictions?: number[];
}

export interface ModelEvalOptions {
  batchSize?: number;
  /** Applied in place to each sample's features before the model sees them (the job's preprocessing). */
  transform?: (x: Float32Array) => void;
  /** How to name the model in messages (its folder, or "job 3's global model"). */
  modelName?: string;
  /** Also return each row's predicted class. */
  rows?: boolean;
}

/**
 * Refuse data that cannot feed the model before any sample is read: a different feature count, a
 * model that is not a classifier, or labels beyond its classes (from the loader's validation pass).
 * Labels are checked row by row in evaluateClassifier, so that error can name the row.
 * @throws UserError DATA_MODEL_MISMATCH naming the file, the model's input shape and class count and the data's.
 */
export function checkEvalDataFits(model: tf.LayersModel, data: DataSource, modelName: string): { inputShape: number[]; classes: number } {
  const shape = describeModel(model);
  if (shape.task.kind !== "classification") {
    throw new UserError(`${modelName} is not a multi-class classifier (its last layer has ${shape.task.kind === "binary" ? "1 sigmoid unit" : "1 linear unit"}); dat model eval reports class metrics.`, {
      code: "MODEL_NOT_CLASSIFIER",
    });
  }
  const classes = shape.task.classes;
  // Labels are checked row by row in evaluateClassifier, so that error can name the row.
  checkDataFitsModel(model, data, modelName, { labels: false });
  return { inputShape: shape.inputShape, classes };
}

/**
 * The model's logits for a batch: where the model ends in a softmax Dense layer, the Dense layer's
 * pre-activation (so the loss is log-sum-exp of logits and never saturates at log(0)); otherwise
 * the output itself, which describeModel already classed as logits.
 */
function logitsFunction(model: tf.LayersModel, fromLogits: boolean): (xs: tf.Tensor) => tf.Tensor2D {
  if (fromLogits) return (xs) => model.predict(xs) as tf.Tensor2D;
  const last = model.layers[model.layers.length - 1];
  const config = last.getConfig() as { activation?: string; useBias?: boolean };
  if (last.getClassName() === "Dense" && config.activation === "softmax") {
    // The layers before the last one (none: the Dense layer reads the input itself).
    const body = model.layers.length >= 2 ? tf.model({ inputs: model.inputs, outputs: model.layers[model.layers.length - 2].output as tf.SymbolicTensor }) : undefined;
    const [kernel, bias] = last.getWeights();
    return (xs) => {
      const h = body ? (body.predict(xs) as tf.Tensor) : xs;
      const flat = h.reshape([h.shape[0], -1]) as tf.Tensor2D;
      const z = tf.matMul(flat, kernel as tf.Tensor2D);
      return (config.useBias === false || !bias ? z : tf.add(z, bias)) as tf.Tensor2D;
    };
  }
  // Another softmax architecture: log of the probabilities, floored far below any real probability.
  return (xs) => tf.log(tf.maximum(model.predict(xs) as tf.Tensor, 1e-30)) as tf.Tensor2D;
}

/**
 * Accuracy, loss and per-class precision / recall of a classifier over `data`, streamed in batches.
 * @throws UserError DATA_MODEL_MISMATCH (see checkEvalDataFits), DATA_NOT_FINITE (a NaN or infinite
 * feature, after the transform) or DATA_LABEL_RANGE (a label outside the classes), naming file and row.
 */
export async function evaluateClassifier(model: tf.LayersModel, data: DataSource, options: ModelEvalOptions = {}): Promise<ModelEvalResult> {
  const modelName = options.modelName ?? "the model";
  const { inputShape, classes } = checkEvalDataFits(model, data, modelName);
  const fromLogits = (describeModel(model).task as { fromLogits: boolean }).fromLogits;
  const logitsOf = logitsFunction(model, fromLogits);
  const size = featureSize(inputShape);
  const batchSize = options.batchSize ?? 256;
  const counts = new Array<number>(classes).fill(0);
  const predicted = new Array<number>(classes).fill(0);
  const correct = new Array<number>(classes).fill(0);
  let lossSum = 0;
  let seen = 0;
  const rowPredictions: number[] | undefined = options.rows ? [] : undefined;
  let x = new Float32Array(batchSize * size);
  let labels: number[] = [];

  const flush = (): void => {
    const n = labels.length;
    if (n === 0) return;
    const [logits] = tf.tidy(() => [logitsOf(tf.tensor(x.subarray(0, n * size), [n, ...inputShape], "float32")).dataSync() as Float32Array]);
    for (let r = 0; r < n; r++) {
      const row = logits.subarray(r * classes, (r + 1) * classes);
      let best = 0;
      let max = -Infinity;
      for (let c = 0; c < classes; c++) {
        if (row[c] > max) {
          max = row[c];
          best = c;
        }
      }
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += Math.exp(row[c] - max);
      const label = labels[r];
      lossSum += max + Math.log(sum) - row[label];
      counts[label]++;
      predicted[best]++;
      rowPredictions?.push(best);
      if (best === label) correct[label]++;
    }
    labels = [];
  };

  let row = 0;
  for await (const sample of data.read()) {
    row++;
    const features = Float32Array.from(sample.x);
    options.transform?.(features);
    for (let i = 0; i < features.length; i++) {
      if (!Number.isFinite(features[i])) {
        throw new UserError(`${data.name}, row ${row}: feature ${i + 1} is ${features[i]}${options.transform ? " after preprocessing" : ""}; every feature must be a finite number.`, {
          code: "DATA_NOT_FINITE",
          hint: "Fix or drop the row; with --normalize, check that no column is constant or infinite.",
          data: { file: data.name, row, feature: i + 1 },
        });
      }
    }
    if (!Number.isInteger(sample.y) || sample.y < 0 || sample.y >= classes) {
      throw new UserError(`${data.name}, row ${row}: label ${sample.y} is outside ${modelName}'s classes; expected an integer 0..${classes - 1}.`, {
        code: "DATA_LABEL_RANGE",
        data: { file: data.name, row, label: sample.y, classes },
      });
    }
    if (x.length < (labels.length + 1) * size) x = new Float32Array(batchSize * size);
    x.set(features, labels.length * size);
    labels.push(sample.y);
    if (labels.length === batchSize) flush();
    seen++;
  }
  flush();
  if (seen === 0) throw new UserError(`${data.name} holds no samples.`, { code: "DATA_EMPTY" });
  const totalCorrect = correct.reduce((a, b) => a + b, 0);
  return {
    count: seen,
    accuracy: totalCorrect / seen,
    loss: lossSum / seen,
    classes: counts.map((count, c) => ({
      class: c,
      count,
      predicted: predicted[c],
      precision: predicted[c] > 0 ? correct[c] / predicted[c] : null,
      recall: count > 0 ? correct[c] / count : null,
    })),
    ...(rowPredictions ? { predictions: rowPredictions } : {}),
  };
}
