/**
 * One training step behind one interface: loss and gradients of a batch, the FedProx term, one
 * optimizer update. Three implementations, picked once per run:
 * - the hand-written step (sequentialStep.ts) for plain Sequential classifiers on wasm,
 * - the same step data-parallel over worker threads (parallel/parallelStep.ts), when more than
 *   one thread is asked for and the run is long enough to repay starting them,
 * - tfjs's generic optimizer.minimize step for everything else (any backend).
 * Every read of a tensor is asynchronous: WebGPU in Node has no synchronous read.
 */
import * as tf from "@tensorflow/tfjs";
import { featureSize } from "./data/source.js";
import { flattenBatch, stackBatch } from "./batches.js";
import { modelLoss } from "./loss.js";
import type { ModelShape } from "./modelShape.js";
import { planSequentialStep, type SequentialStep } from "./sequentialStep.js";
import { applyWithProximal, proximal, type Proximal, type TrainStep } from "./trainStep.js";

export type { StepResult, TrainStep } from "./trainStep.js";

export interface TrainStepOptions {
  model: tf.LayersModel;
  shape: ModelShape;
  optimizer: tf.Optimizer;
  /** FedProx μ (0: none); the proximal targets are the weights when the step is made. */
  mu: number;
  /** Threads for the hand-written step; 1 keeps it on this thread. */
  threads: number;
  /** Time the parallel step's phases (see TrainStep.profile). */
  profile?: boolean;
  /** Rows per micro-batch within each thread's shard of the parallel step (0 or absent: whole shards). */
  microBatch?: number;
}

function sequentialStep(step: SequentialStep, options: TrainStepOptions, prox: Proximal): TrainStep {
  const { shape, optimizer } = options;
  const size = featureSize(shape.inputShape);
  let arrays: { x: Float32Array; y: Float32Array } | undefined;
  return {
    kind: "sequential",
    threads: 1,
    async run(batch) {
      arrays = flattenBatch(batch, size, arrays);
      const { x, y } = arrays;
      let loss = 0;
      let correct = 0;
      const term = tf.tidy(() => {
        const out = step.gradients(tf.tensor(x, [batch.length, ...shape.inputShape], "float32"), y);
        loss = out.loss;
        correct = out.correct;
        return applyWithProximal(optimizer, out.grads, prox);
      });
      loss += (await term.data())[0];
      term.dispose();
      return { loss, correct };
    },
    async dispose() {
      prox.targets.forEach((t) => t.dispose());
    },
  };
}

function genericStep(options: TrainStepOptions, prox: Proximal): TrainStep {
  const { model, shape, optimizer } = options;
  return {
    kind: "generic",
    threads: 1,
    async run(batch) {
      let correctTensor: tf.Scalar | undefined;
      const lossTensor = tf.tidy(() => {
        const { xs, ys } = stackBatch(batch, shape.inputShape);
        return optimizer.minimize(
          () => {
            const out = modelLoss(model, shape.task, xs, ys, true);
            if (out.correct) correctTensor = tf.keep(out.correct);
            if (prox.mu === 0) return out.loss;
            const term = tf.addN(prox.trainable.map((v, i) => tf.sum(tf.square(tf.sub(v, prox.targets[i])))));
            return tf.add(out.loss, tf.mul(prox.mu / 2, term)) as tf.Scalar;
          },
          true,
          prox.trainable,
        )!;
      });
      const loss = (await lossTensor.data())[0];
      lossTensor.dispose();
      let correct = NaN;
      if (correctTensor) {
        correct = (await correctTensor.data())[0];
        correctTensor.dispose();
      }
      return { loss, correct };
    },
    async dispose() {
      prox.targets.forEach((t) => t.dispose());
    },
  };
}

/** The step for this model, backend and thread count (see the module comment). */
export async function createTrainStep(options: TrainStepOptions): Promise<TrainStep> {
  const prox = proximal(options.model, options.mu);
  const handWritten = planSequentialStep(options.model, options.shape.task);
  if (!handWritten) return genericStep(options, prox);
  if (options.threads > 1) {
    const { createParallelStep } = await import("./parallel/parallelStep.js");
    try {
      return await createParallelStep({ ...options, step: handWritten, prox });
    } catch (error) {
      prox.targets.forEach((t) => t.dispose());
      throw error;
    }
  }
  return sequentialStep(handWritten, options, prox);
}

/**
 * Starts the workers of the parallel step this model would train with on `threads` threads, ahead
 * of the run (see parallelStep.ts's `prewarmParallelStep`); nothing for one thread.
 */
export async function prewarmTrainStep(model: tf.LayersModel, shape: ModelShape, threads: number): Promise<void> {
  if (threads < 2) return;
  const { prewarmParallelStep } = await import("./parallel/parallelStep.js");
  prewarmParallelStep(model, shape, threads);
}
