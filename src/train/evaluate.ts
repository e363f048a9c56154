/** Loss and accuracy of a model over a data set (or one part of a seeded split), streamed in batches. */
import * as tf from "@tensorflow/tfjs";
import type { DataSource } from "./data/source.js";
import { batches, stackBatch } from "./batches.js";
import { modelLoss } from "./loss.js";
import { describeModel } from "./modelShape.js";

export interface EvaluateOptions {
  batchSize?: number;
  /** Evaluate only the validation part of a split made with this seed and fraction. */
  split?: { seed: number; valSplit: number; part: "train" | "validation" };
}

export interface EvaluateResult {
  loss: number;
  accuracy?: number;
  count: number;
}

/** Loss (and accuracy for classifiers) of the model over a data set, streamed in batches. */
export async function evaluate(model: tf.LayersModel, data: DataSource, options: EvaluateOptions = {}): Promise<EvaluateResult> {
  const shape = describeModel(model);
  const split = options.split ?? { seed: 0, valSplit: 0, part: "train" as const };
  let lossSum = 0;
  let correctSum = 0;
  let count = 0;
  for await (const batch of batches(data, {
    batchSize: options.batchSize ?? 256,
    splitSeed: split.seed,
    shuffleSeed: 0,
    valSplit: split.valSplit,
    wantValidation: split.part === "validation",
    shuffle: false,
    shuffleBuffer: 0,
  })) {
    const out = tf.tidy(() => {
      const { xs, ys } = stackBatch(batch, shape.inputShape);
      const { loss, correct } = modelLoss(model, shape.task, xs, ys, false);
      // One tensor, one read: WebGPU in Node reads only asynchronously, and each read waits on the device.
      return correct ? tf.stack([loss, correct]) : tf.reshape(loss, [1]);
    });
    const values = await out.data();
    out.dispose();
    lossSum += values[0] * batch.length;
    correctSum += values.length > 1 ? values[1] : NaN;
    count += batch.length;
  }
  if (count === 0) return { loss: NaN, count: 0 };
  const result: EvaluateResult = { loss: lossSum / count, count };
  if (shape.task.kind !== "regression") result.accuracy = correctSum / count;
  return result;
}
