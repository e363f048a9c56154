/** Messages between the parallel step (main thread) and its gradient workers. */
import type { PhaseTimes } from "./threadCpu.js";

export interface WorkerSetup {
  /** The model's topology (model.toJSON), rebuilt in the worker; weights come through `weights`. */
  topology: unknown;
  inputShape: number[];
  classes: number;
  fromLogits: boolean;
  /** Threads in all, the main thread included. */
  threads: number;
  /** The shared wasm memory holding weights, targets and every thread's gradients (see shared.ts's layout); or, without one: */
  memory?: WebAssembly.Memory;
  /** The trainable weights, flat in trainable order. */
  weights?: SharedArrayBuffer;
  /** Every thread's shard-mean gradients, same layout; the main thread's first. */
  grads?: SharedArrayBuffer[];
  /** FedProx targets (the global weights), same layout. */
  targets?: SharedArrayBuffer;
  /** This worker's index in `grads` (≥ 1). */
  index: number;
  /** Element count of each trainable weight, in order. */
  sizes: number[];
}

/** Compute one shard's gradients (after taking the current weights from shared memory). */
export interface ShardRequest {
  kind: "grads";
  /** Features [rows, ...inputShape] flat, and labels. */
  x: Float32Array;
  y: Float32Array;
  /** Rows per micro-batch (0: the whole shard in one pass). */
  microBatch: number;
  /** Time the phases and send them back. */
  profile: boolean;
}

/** Reduce every thread's gradients over [lo, hi) and (mode "sgd") update those weights. */
export interface UpdateRequest {
  kind: "update";
  mode: "sgd" | "mean";
  /** Rows of each thread's shard this step (0: its gradient buffer is not used). */
  rows: number[];
  lr: number;
  mu: number;
  lo: number;
  hi: number;
  profile: boolean;
}

export type WorkerRequest = ShardRequest | UpdateRequest;

export type WorkerReply =
  | { kind: "ready" }
  /** Σ of the shard's row losses, its correct count, the wall ms it took; gradients are in the shared buffer. */
  | { kind: "grads"; lossSum: number; correct: number; computeMs: number; phases?: PhaseTimes }
  /** Σ (w − w_global)² over the slice, before the update. */
  | { kind: "updated"; proxSum: number; phases?: PhaseTimes }
  | { kind: "error"; message: string; stack?: string };
