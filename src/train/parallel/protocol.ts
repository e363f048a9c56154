/** Messages between the parallel step (main thread) and its gradient workers. */
import type { PhaseTimes } from "./threadCpu.js";

export interface WorkerSetup {
  /** The model's topology (model.toJSON), rebuilt in the worker; weights come through `weights`. */
  topology: unknown;
  inputShape: number[];
  classes: number;
  fromLogits: boolean;
  /** The trainable weights, flat in trainable order. */
  weights: SharedArrayBuffer;
  /**
   * Every thread's shard-mean gradients, same layout, the main thread's first — twice: steps
   * alternate between the two slots, so the main thread never overwrites gradients a worker may
   * still be reading for the previous step's update.
   */
  grads: [SharedArrayBuffer[], SharedArrayBuffer[]];
  /** FedProx targets (the global weights), same layout. */
  targets: SharedArrayBuffer;
  /** Int32 words: [0] the last step whose main-thread gradients are written, [1] 1 once the workers are being stopped. */
  sync: SharedArrayBuffer;
  /** This worker's index in `grads` (≥ 1). */
  index: number;
  /** Element count of each trainable weight, in order. */
  sizes: number[];
}

/**
 * A shard's work for a worker: first take the weights from shared memory if asked (the first shard
 * of a run, and after an optimizer step on the main thread); compute the shard's gradients (none
 * for a shard of no rows) and answer; then, with SGD, wait until the main thread's gradients of
 * this step are written (sync word 0 reaches `after.step`) and apply the step's update to the
 * replica from every thread's gradients in shared memory — the same operations every thread runs,
 * so the replicas stay equal bit for bit and no weights cross threads.
 */
export interface ShardRequest {
  kind: "grads";
  before: { kind: "assign" } | { kind: "none" };
  /** The gradient slot of this step (see WorkerSetup.grads). */
  slot: 0 | 1;
  after: { kind: "sgd"; step: number; rows: number[]; lr: number; mu: number } | { kind: "none" };
  /** Features [rows, ...inputShape] flat, and labels. */
  x: Float32Array;
  y: Float32Array;
  /** Rows per micro-batch (0: the whole shard in one pass). */
  microBatch: number;
  /** Time the phases and send them back. */
  profile: boolean;
}

/** For optimizers that run on the main thread (Adam): the batch-mean gradient over [lo, hi), into the main thread's buffer. */
export interface ReduceRequest {
  kind: "reduce";
  slot: 0 | 1;
  /** Rows of each thread's shard this step (0: its gradient buffer is not used). */
  rows: number[];
  lo: number;
  hi: number;
  profile: boolean;
}

export type WorkerRequest = ShardRequest | ReduceRequest;

export type WorkerReply =
  | { kind: "ready" }
  /** Σ of the shard's row losses, its correct count, the wall ms it took; gradients are in the shared buffer. */
  | { kind: "grads"; lossSum: number; correct: number; computeMs: number; phases?: PhaseTimes }
  | { kind: "reduced"; phases?: PhaseTimes }
  | { kind: "error"; message: string; stack?: string };
