/**
 * The hand-written wasm step, data-parallel over worker threads. Each step the batch is split into
 * contiguous shards, one per thread (this thread takes the first); every worker, a wasm replica
 * of the model, computes its shard's gradients with the weights this thread wrote to shared
 * memory and writes them back, scaled by its rows. This thread sums them, divides by the batch
 * size and applies one optimizer update (FedProx included) to its model: the same gradients as
 * one thread on the whole batch up to float rounding, the same optimizer, the same checkpoints.
 *
 * Weights go out and gradients come back through SharedArrayBuffers (one copy each way per
 * step); messages carry only the shard's samples and two numbers back.
 */
import { Worker } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { featureSize, type Sample } from "../data/source.js";
import type { ModelShape } from "../modelShape.js";
import type { SequentialStep } from "../sequentialStep.js";
import { applyWithProximal, type Proximal, type TrainStep } from "../trainStep.js";
import type { ShardRequest, WorkerReply, WorkerSetup } from "./protocol.js";

export interface ParallelStepOptions {
  model: tf.LayersModel;
  shape: ModelShape;
  optimizer: tf.Optimizer;
  /** Threads in all, this one included (≥ 2). */
  threads: number;
  /** The hand-written step on this thread's model. */
  step: SequentialStep;
  prox: Proximal;
  /** The worker's entry module; tests point it elsewhere to see a worker fail. */
  workerEntry?: URL;
}

interface GradientWorker {
  worker: Worker;
  grads: Float32Array;
  /** Settles the pending request, if any. */
  pending?: { resolve: (reply: WorkerReply & { kind: "done" }) => void; reject: (error: Error) => void };
  /** Set once the worker failed or exited: every later request fails with it. */
  failure?: Error;
}

/** The worker entry: built JavaScript next to this file, or (under tsx/vitest) the TypeScript source through tsx. */
function spawn(entry: URL | undefined, setup: WorkerSetup): Worker {
  const own = new URL(import.meta.url);
  const source = own.pathname.endsWith(".ts");
  const url = entry ?? new URL(source ? "./worker.ts" : "./worker.js", own);
  if (!url.pathname.endsWith(".ts")) return new Worker(url, { workerData: setup });
  // Node 20 workers do not inherit the tsx loader: register it, then import the TypeScript entry.
  return new Worker(`import("tsx/esm/api").then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`, {
    eval: true,
    workerData: setup,
  });
}

function workerFailure(index: number, message: string, cause?: unknown): Error {
  return new Error(`Training thread ${index} failed: ${message}`, { cause });
}

/** Start the workers and wait until each holds its replica; they are stopped again if any fails. */
export async function createParallelStep(options: ParallelStepOptions): Promise<TrainStep> {
  const { model, shape, optimizer, step, prox, threads } = options;
  if (shape.task.kind !== "classification") throw new Error("the parallel step trains classifiers only");
  const variables = prox.trainable;
  const sizes = variables.map((v) => v.size);
  const total = sizes.reduce((a, b) => a + b, 0);
  const weights = new Float32Array(new SharedArrayBuffer(total * 4));
  const setupBase = {
    topology: model.toJSON(undefined, false),
    inputShape: shape.inputShape,
    classes: shape.task.classes,
    fromLogits: shape.task.fromLogits,
    weights: weights.buffer as SharedArrayBuffer,
    sizes,
  };
  const workers: GradientWorker[] = [];
  const ready: Promise<void>[] = [];
  for (let k = 1; k < threads; k++) {
    const grads = new SharedArrayBuffer(total * 4);
    const worker = spawn(options.workerEntry, { ...setupBase, grads });
    const entry: GradientWorker = { worker, grads: new Float32Array(grads) };
    workers.push(entry);
    ready.push(
      new Promise<void>((resolve, reject) => {
        const fail = (error: Error): void => {
          entry.failure ??= error;
          entry.pending?.reject(entry.failure);
          entry.pending = undefined;
          reject(entry.failure);
        };
        worker.on("message", (message: WorkerReply) => {
          if (message.kind === "ready") resolve();
          else if (message.kind === "error") fail(workerFailure(k, message.message, Object.assign(new Error(message.message), { stack: message.stack })));
          else {
            const pending = entry.pending;
            entry.pending = undefined;
            pending?.resolve(message);
          }
        });
        worker.on("error", (error) => fail(workerFailure(k, error.message, error)));
        worker.on("exit", (code) => fail(workerFailure(k, `it exited (code ${code})`)));
      }),
    );
  }
  try {
    await Promise.all(ready);
  } catch (error) {
    await Promise.all(workers.map((w) => w.worker.terminate()));
    throw error;
  }

  const size = featureSize(shape.inputShape);
  let disposed = false;
  const request = (entry: GradientWorker, shard: ShardRequest): Promise<WorkerReply & { kind: "done" }> => {
    if (entry.failure) return Promise.reject(entry.failure);
    return new Promise((resolve, reject) => {
      entry.pending = { resolve, reject };
      entry.worker.postMessage(shard, [shard.x.buffer as ArrayBuffer, shard.y.buffer as ArrayBuffer]);
    });
  };

  return {
    kind: "parallel",
    threads,
    async run(batch: Sample[]) {
      if (disposed) throw new Error("the parallel training step was disposed");
      const rows = batch.length;
      // Contiguous shards, sizes differing by at most one; the first is this thread's.
      const bounds = [0];
      for (let k = 0; k < threads; k++) bounds.push(bounds[k] + Math.floor(rows / threads) + (k < rows % threads ? 1 : 0));
      // Current weights out first: the optimizer (and a resume) changed them since the last step.
      let at = 0;
      for (const v of variables) {
        weights.set((await v.data()) as Float32Array, at);
        at += v.size;
      }
      const shardOf = (k: number): ShardRequest => {
        const x = new Float32Array(size * (bounds[k + 1] - bounds[k]));
        const y = new Float32Array(bounds[k + 1] - bounds[k]);
        batch.slice(bounds[k], bounds[k + 1]).forEach((s, i) => {
          x.set(s.x, i * size);
          y[i] = s.y;
        });
        return { x, y };
      };
      const replies = workers.map((entry, i) => (bounds[i + 2] > bounds[i + 1] ? request(entry, shardOf(i + 1)) : undefined));
      // Mark every reply handled now: one failing while this thread still computes must not go unhandled.
      replies.forEach((r) => r?.catch(() => undefined));

      const own = shardOf(0);
      const ownRows = own.y.length;
      let lossSum = 0;
      let correct = 0;
      const ownGrads = tf.tidy(() => {
        const out = step.gradients(tf.tensor(own.x, [ownRows, ...shape.inputShape], "float32"), own.y);
        lossSum = out.loss * ownRows;
        correct = out.correct;
        return variables.map((v) => out.grads[v.name]);
      });
      const sums: Float32Array[] = [];
      for (const g of ownGrads) {
        const data = Float32Array.from((await g.data()) as Float32Array);
        for (let i = 0; i < data.length; i++) data[i] *= ownRows;
        sums.push(data);
        g.dispose();
      }
      for (let i = 0; i < replies.length; i++) {
        const reply = replies[i];
        if (!reply) continue;
        const done = await reply;
        lossSum += done.lossSum;
        correct += done.correct;
        const grads = workers[i].grads;
        at = 0;
        for (const sum of sums) {
          for (let j = 0; j < sum.length; j++) sum[j] += grads[at + j];
          at += sum.length;
        }
      }
      const term = tf.tidy(() => {
        const named: tf.NamedTensorMap = {};
        variables.forEach((v, i) => {
          const mean = sums[i];
          for (let j = 0; j < mean.length; j++) mean[j] /= rows;
          named[v.name] = tf.tensor(mean, v.shape, "float32");
        });
        return applyWithProximal(optimizer, named, prox);
      });
      const loss = lossSum / rows + (await term.data())[0];
      term.dispose();
      return { loss, correct };
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      prox.targets.forEach((t) => t.dispose());
      for (const entry of workers) {
        entry.worker.removeAllListeners("exit");
        entry.failure ??= new Error("the parallel training step was disposed");
      }
      await Promise.all(workers.map((w) => w.worker.terminate()));
    },
  };
}
