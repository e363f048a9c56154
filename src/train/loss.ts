/**
 * The generic step's loss: softmax cross-entropy from logits (log-sum-exp, gradient p − onehot),
 * binary cross-entropy, or mean squared error, chosen by the model's task.
 *
 * A model that ends in a softmax is run with that softmax left out, so the loss sees the logits:
 * cross-entropy of clipped probabilities passes no gradient through a row whose label probability
 * fell below the clip, and a model saturated on one class would never move again.
 */
import * as tf from "@tensorflow/tfjs";
import type { Task } from "./modelShape.js";

interface ActivationLike {
  getClassName(): string;
  apply(x: tf.Tensor): tf.Tensor;
}

let linear: ActivationLike | undefined;
/** tfjs-layers' own Linear activation (its class is not exported): a Dense layer's default. */
function linearActivation(): ActivationLike {
  linear ??= (tf.layers.dense({ units: 1 }) as unknown as { activation: ActivationLike }).activation;
  return linear;
}

/** The last layer's softmax, where the model ends in one that can be left out. */
function finalSoftmax(model: tf.LayersModel): { activation: ActivationLike } | undefined {
  const last = model.layers[model.layers.length - 1] as unknown as { activation?: ActivationLike };
  if (!last || typeof last.activation?.getClassName !== "function") return undefined;
  return last.activation.getClassName() === "softmax" ? (last as { activation: ActivationLike }) : undefined;
}

export interface ModelOutputs {
  /** What the loss takes: logits when `fromLogits`, else the model's own output. */
  outputs: tf.Tensor;
  fromLogits: boolean;
}

/** Run the model on `xs`, leaving out a final softmax of a classifier (see the module comment). */
export function forwardForLoss(model: tf.LayersModel, task: Task, xs: tf.Tensor, training: boolean): ModelOutputs {
  const softmax = task.kind === "classification" && !task.fromLogits ? finalSoftmax(model) : undefined;
  if (!softmax) return { outputs: model.apply(xs, { training }) as tf.Tensor, fromLogits: task.kind === "classification" && task.fromLogits };
  const saved = softmax.activation;
  softmax.activation = linearActivation();
  try {
    return { outputs: model.apply(xs, { training }) as tf.Tensor, fromLogits: true };
  } finally {
    softmax.activation = saved;
  }
}

/**
 * The loss for a task (and, for classifiers, the count of correct predictions). `fromLogits`
 * says whether a classifier's `preds` are logits (else probabilities, clipped before the log:
 * only for a softmax forwardForLoss could not leave out).
 */
export function lossAndCorrect(
  task: Task,
  preds: tf.Tensor,
  labels: tf.Tensor1D,
  fromLogits = task.kind === "classification" && task.fromLogits,
): { loss: tf.Scalar; correct: tf.Scalar | undefined } {
  if (task.kind === "classification") {
    const oneHot = tf.oneHot(tf.cast(labels, "int32"), task.classes);
    const loss = fromLogits
      ? tf.losses.softmaxCrossEntropy(oneHot, preds)
      : tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.log(tf.clipByValue(preds, 1e-7, 1))), -1)));
    const correct = tf.sum(tf.cast(tf.equal(tf.argMax(preds, -1), tf.cast(labels, "int32")), "float32"));
    return { loss: loss as tf.Scalar, correct: correct as tf.Scalar };
  }
  const flat = preds.reshape([-1]);
  if (task.kind === "binary") {
    const p = tf.clipByValue(flat, 1e-7, 1 - 1e-7);
    const loss = tf.neg(tf.mean(tf.add(tf.mul(labels, tf.log(p)), tf.mul(tf.sub(1, labels), tf.log(tf.sub(1, p))))));
    const correct = tf.sum(tf.cast(tf.equal(tf.greater(flat, 0.5), tf.greater(labels, 0.5)), "float32"));
    return { loss: loss as tf.Scalar, correct: correct as tf.Scalar };
  }
  return { loss: tf.losses.meanSquaredError(labels, flat) as tf.Scalar, correct: undefined };
}

/** Loss and correct count of a model on a batch, from logits wherever the model allows it. */
export function modelLoss(model: tf.LayersModel, task: Task, xs: tf.Tensor, labels: tf.Tensor1D, training: boolean): { loss: tf.Scalar; correct: tf.Scalar | undefined } {
  const { outputs, fromLogits } = forwardForLoss(model, task, xs, training);
  return lossAndCorrect(task, outputs, labels, fromLogits);
}
