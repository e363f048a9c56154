/**
 * The hand-written wasm step, data-parallel over worker threads. Each step the batch is split into
 * contiguous shards, one per thread (this thread takes the first), sized by how fast each thread
 * computed its recent shards (see `balance`); every thread, this one and each
 * worker (a wasm replica of the model), computes its shard's gradients with the current weights
 * and writes them (its shard's mean) to its own SharedArrayBuffer. Then every thread reduces one
 * slice of the flat weights: weighs the threads' gradients there by their shards' rows and, with
 * SGD, applies the update (FedProx included) to the shared weights in place — so no thread sums or
 * updates all the weights alone. With two threads and plain SGD that update is SIMD wasm on the
 * shared wasm memory the buffers live in (simdKernels.ts). Other optimizers (Adam) get the batch-mean gradient and run on
 * this thread, as tfjs's. Same gradients as one thread on the whole batch up to float rounding,
 * the same update, the same checkpoints.
 *
 * Per step: two messages each way per worker (the shard with its samples; the slice to update),
 * no weight or gradient in any message. Workers come from pool.ts and outlive the run.
 */
import * as tf from "@tensorflow/tfjs";
import { featureSize, type Sample } from "../data/source.js";
import type { ModelShape } from "../modelShape.js";
import { planSequentialStep, type SequentialStep } from "../sequentialStep.js";
import { applyWithProximal, type Proximal, type StepProfile, type TrainStep } from "../trainStep.js";
import { acquirePool, prewarmPool, releasePool, type PoolSetup } from "./pool.js";
import type { ShardRequest } from "./protocol.js";
import { assignWeights, ranges, readWeights, shardGradientsInto, updateSlice } from "./shared.js";
import { addPhases, PhaseClock, type PhaseTimes } from "./threadCpu.js";

export interface ParallelStepOptions {
  model: tf.LayersModel;
  shape: ModelShape;
  optimizer: tf.Optimizer;
  /** Threads in all, this one included (≥ 2). */
  threads: number;
  /** The hand-written step on this thread's model. */
  step: SequentialStep;
  prox: Proximal;
  /** Time each phase of each thread (CPU and wall) into the step's `profile`. */
  profile?: boolean;
  /** Rows per micro-batch within each thread's shard (0: the whole shard in one pass). */
  microBatch?: number;
  /** The worker's entry module; tests point it elsewhere to see a worker fail. */
  workerEntry?: URL;
}

/**
 * The topology without names and initializers (a model built twice names its layers anew, and a
 * replica's weights come from shared memory, never from its initializers): what a replica depends on.
 */
function architectureKey(topology: unknown): string {
  return JSON.stringify(topology, (key, value: unknown) => (key === "name" || /initializer$/i.test(key) ? undefined : value));
}

/** What the workers of a model's step are started with, and the key a pool is reused by. */
function poolFor(model: tf.LayersModel, shape: ModelShape, threads: number, workerEntry: URL | undefined): { key: string; setup: PoolSetup } {
  if (shape.task.kind !== "classification") throw new Error("the parallel step trains classifiers only");
  const sizes = model.trainableWeights.map((w) => w.shape.reduce((a: number, b) => a * (b ?? 1), 1));
  const topology = model.toJSON(undefined, false);
  const setup = { topology, inputShape: shape.inputShape, classes: shape.task.classes, fromLogits: shape.task.fromLogits, sizes };
  const key = JSON.stringify([architectureKey(topology), setup.inputShape, setup.classes, setup.fromLogits, sizes, threads, workerEntry?.href ?? ""]);
  return { key, setup };
}

/**
 * Starts the workers a parallel step of this model would take, without waiting for them (see
 * pool.ts's `prewarmPool`): a run calls it before it reads its data. Nothing happens where the
 * step would not be parallel (one thread, a model the hand-written step does not take).
 */
export function prewarmParallelStep(model: tf.LayersModel, shape: ModelShape, threads: number, workerEntry?: URL): void {
  if (threads < 2 || shape.task.kind !== "classification" || !planSequentialStep(model, shape.task)) return;
  const { key, setup } = poolFor(model, shape, threads, workerEntry);
  prewarmPool(key, setup, threads, workerEntry);
}

/** Start (or take back) the workers and wait until each holds its replica. */
export async function createParallelStep(options: ParallelStepOptions): Promise<TrainStep> {
  const { model, shape, optimizer, step, prox, threads } = options;
  const { key, setup } = poolFor(model, shape, threads, options.workerEntry);
  const variables = prox.trainable;
  const total = setup.sizes.reduce((a, b) => a + b, 0);
  const pool = await acquirePool(key, setup, threads, options.workerEntry);
  const { buffers } = pool;
  // SGD's update is elementwise: every thread applies it to its slice. Adam keeps tfjs's state, on this thread.
  // (By class name: tfjs's optimizers answer instanceof by duck typing, so an Adam is "instanceof SGDOptimizer".)
  const sgd = optimizer.getClassName() === "SGD" ? (optimizer as tf.SGDOptimizer & { learningRate: number }) : undefined;
  const slices = ranges(total, threads);
  const size = featureSize(shape.inputShape);
  const microBatch = options.microBatch ?? 0;
  const phases: PhaseTimes = {};
  const profile: StepProfile | undefined = options.profile ? { steps: 0, phases } : undefined;
  const balance = new ShardBalance(threads);
  let started = false;
  let disposed = false;
  /** Set when a step failed midway: its workers are stopped, not kept for another run. */
  let broken = false;

  const shardOf = (batch: Sample[], from: number, to: number): { x: Float32Array; y: Float32Array } => {
    const x = new Float32Array(size * (to - from));
    const y = new Float32Array(to - from);
    for (let i = from; i < to; i++) {
      x.set(batch[i].x, (i - from) * size);
      y[i - from] = batch[i].y;
    }
    return { x, y };
  };

  return {
    kind: "parallel",
    threads,
    profile,
    async run(batch: Sample[]) {
      if (disposed) throw new Error("the parallel training step was disposed");
      try {
        return await runStep(batch);
      } catch (error) {
        broken = true;
        throw error;
      }
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      prox.targets.forEach((t) => t.dispose());
      await releasePool(pool, { keep: !broken });
    },
  };

  async function runStep(batch: Sample[]): Promise<{ loss: number; correct: number }> {
    const clock = profile ? new PhaseClock(phases) : undefined;
    if (!started) {
      // The weights as this run starts (a resume set them after the step was made); the workers' pool may have served another run.
      readWeights(variables, buffers.weights);
      if (prox.mu > 0) readWeights(prox.targets, buffers.targets);
      started = true;
      clock?.mark("main.setup");
    }
    const rows = batch.length;
    const bounds = balance.split(rows);
    const shards = Array.from({ length: pool.size }, (_, k) => {
      const [from, to] = bounds[k + 1];
      // No rows for this worker: the reduce skips its gradients.
      if (to === from) return undefined;
      const { x, y } = shardOf(batch, from, to);
      const request: ShardRequest = { kind: "grads", x, y, microBatch, profile: !!profile };
      return pool.request(k, request, [x.buffer as ArrayBuffer, y.buffer as ArrayBuffer]);
    });
    // Mark every reply handled now: one failing while this thread still computes must not go unhandled.
    shards.forEach((r) => r?.catch(() => undefined));
    clock?.mark("main.send");

    const own = shardOf(batch, bounds[0][0], bounds[0][1]);
    const computeStart = performance.now();
    let { lossSum, correct } = shardGradientsInto(step, variables, shape.inputShape, own.x, own.y, microBatch, buffers.grads[0]);
    const computeMs = [performance.now() - computeStart];
    clock?.mark("main.compute");
    for (const reply of shards) {
      const done = reply && (await reply);
      if (done?.kind !== "grads") {
        computeMs.push(0);
        continue;
      }
      computeMs.push(done.computeMs);
      lossSum += done.lossSum;
      correct += done.correct;
      if (done.phases) addPhases(phases, done.phases, "workers.");
    }
    clock?.mark("main.waitGrads");
    balance.record(bounds, computeMs);

    const mode = sgd ? "sgd" : "mean";
    const lr = sgd?.learningRate ?? 0;
    const mu = sgd ? prox.mu : 0;
    const shardRows = bounds.map(([from, to]) => to - from);
    const updates = Array.from({ length: pool.size }, (_, k) =>
      pool.request(k, { kind: "update", mode, rows: shardRows, lr, mu, lo: slices[k + 1][0], hi: slices[k + 1][1], profile: !!profile }),
    );
    updates.forEach((r) => r.catch(() => undefined));
    let proxSum = updateSlice(buffers, mode, shardRows, lr, mu, slices[0][0], slices[0][1]);
    clock?.mark("main.update");
    for (const reply of updates) {
      const done = await reply;
      if (done.kind !== "updated") continue;
      proxSum += done.proxSum;
      if (done.phases) addPhases(phases, done.phases, "workers.");
    }
    clock?.mark("main.waitUpdate");

    let loss = lossSum / rows;
    if (sgd) {
      assignWeights(variables, buffers.weights);
      (optimizer as unknown as { incrementIterations(): void }).incrementIterations();
      loss += (prox.mu / 2) * proxSum;
      clock?.mark("main.assign");
    } else {
      const term = tf.tidy(() => {
        const named: tf.NamedTensorMap = {};
        let at = 0;
        for (const v of variables) {
          named[v.name] = tf.tensor(buffers.grads[0].subarray(at, at + v.size), v.shape, "float32");
          at += v.size;
        }
        return applyWithProximal(optimizer, named, prox);
      });
      loss += (await term.data())[0];
      term.dispose();
      clock?.mark("main.optimizer");
      // The workers take the updated weights at their next shard.
      readWeights(variables, buffers.weights);
      clock?.mark("main.readWeights");
    }
    if (profile) profile.steps++;
    return { loss, correct };
  }
}

/**
 * Shard sizes in proportion to each thread's recent speed (rows per wall millisecond of its shard,
 * smoothed over steps). Equal shards leave the faster thread waiting for the slower one every step
 * where cores differ (performance and efficiency cores, a core shared with other work): two pinned
 * Xeon cores of a lent H200 machine averaged 157 ms against 194 ms per step over one run. The
 * smoothing is slow, so noise from step to step does not move the split much, and shards stay
 * within half and one and a half times the equal share, so one preempted step cannot starve a thread. Only the split moves: the reduce weighs each shard by its rows, so any
 * split gives the batch's mean gradient up to float rounding.
 */
export class ShardBalance {
  private readonly speed: number[];

  constructor(private readonly threads: number) {
    this.speed = new Array<number>(threads).fill(0);
  }

  /** Contiguous [from, to) row ranges, one per thread; equal until every thread has a measured speed. */
  split(rows: number): [number, number][] {
    const { threads, speed } = this;
    if (rows < 2 * threads || speed.some((s) => !(s > 0))) return ranges(rows, threads);
    const total = speed.reduce((a, b) => a + b, 0);
    const equal = rows / threads;
    const exact = speed.map((s) => Math.min(1.5 * equal, Math.max(0.5 * equal, (rows * s) / total)));
    const sizes = exact.map((e) => Math.floor(e));
    // Rows left by the rounding go to the largest remainders, then round-robin.
    let left = rows - sizes.reduce((a, b) => a + b, 0);
    const order = exact.map((e, k) => [e - Math.floor(e), k] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    for (let i = 0; left > 0; i++, left--) sizes[order[i % threads][1]]++;
    // Rows over the batch (the clamps raised a slow thread's share) come off the largest shards.
    for (; left < 0; left++) sizes[sizes.indexOf(Math.max(...sizes))]--;
    const out: [number, number][] = [];
    let at = 0;
    for (const size of sizes) {
      out.push([at, at + size]);
      at += size;
    }
    return out;
  }

  /** Takes each thread's wall ms for the shard it got (0 or a shard of no rows: not measured). */
  record(bounds: [number, number][], ms: number[]): void {
    bounds.forEach(([from, to], k) => {
      if (to <= from || !(ms[k] > 0)) return;
      const rate = (to - from) / ms[k];
      this.speed[k] = this.speed[k] > 0 ? 0.85 * this.speed[k] + 0.15 * rate : rate;
    });
  }
}
