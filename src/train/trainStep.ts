/**
 * The interface every training step implements (step.ts picks one), and the FedProx term they
 * share: μ/2·‖w − w_global‖² added to the loss, μ·(w − w_global) to the gradients.
 */
import * as tf from "@tensorflow/tfjs";
import type { Sample } from "./data/source.js";

export interface StepResult {
  /** Mean loss over the batch, FedProx term included. */
  loss: number;
  /** Samples predicted right (NaN for regression). */
  correct: number;
}

/** Per-phase CPU and wall milliseconds summed over `steps` steps (the parallel step, when asked to profile). */
export interface StepProfile {
  steps: number;
  /** "main.<phase>" for this thread; "workers.<phase>" summed over the workers. */
  phases: Record<string, { cpuMs: number; wallMs: number }>;
}

export interface TrainStep {
  /** "generic", "sequential" or "parallel" (the hand-written step over worker threads). */
  readonly kind: "generic" | "sequential" | "parallel";
  /** Threads computing gradients (1 unless parallel). */
  readonly threads: number;
  /** Phase times, when the step was made with profiling on. */
  readonly profile?: StepProfile;
  run(batch: Sample[]): Promise<StepResult>;
  /** Frees what the step holds (worker threads included). */
  dispose(): Promise<void>;
}

/** The FedProx pieces shared by the steps: the global weights and the term's loss and gradient. */
export interface Proximal {
  trainable: tf.Variable[];
  targets: tf.Tensor[];
  mu: number;
}

/** The FedProx state of a run: the trainable variables and, with μ > 0, copies of their starting values. */
export function proximal(model: tf.LayersModel, mu: number): Proximal {
  const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const targets = mu > 0 ? trainable.map((v) => tf.keep(tf.clone(v))) : [];
  return { trainable, targets, mu };
}

/**
 * Apply gradients (keyed by variable name) with the FedProx term added; returns the term's value
 * as a tensor the caller reads and disposes (a 0 scalar without FedProx). Call inside tf.tidy.
 */
export function applyWithProximal(optimizer: tf.Optimizer, grads: tf.NamedTensorMap, prox: Proximal): tf.Scalar {
  let term: tf.Scalar = tf.scalar(0);
  if (prox.mu > 0) {
    const gaps = prox.trainable.map((v, i) => tf.sub(v, prox.targets[i]));
    term = tf.mul(prox.mu / 2, tf.addN(gaps.map((g) => tf.sum(tf.square(g))))) as tf.Scalar;
    prox.trainable.forEach((v, i) => (grads[v.name] = tf.add(grads[v.name], tf.mul(gaps[i], prox.mu))));
  }
  optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
  return tf.keep(term);
}
