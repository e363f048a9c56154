/** Messages between the parallel step (main thread) and its gradient workers. */

export interface WorkerSetup {
  /** The model's topology (model.toJSON), rebuilt in the worker; weights come through `weights`. */
  topology: unknown;
  inputShape: number[];
  classes: number;
  fromLogits: boolean;
  /** The trainable weights, flat in trainable order: written by the main thread before each step. */
  weights: SharedArrayBuffer;
  /** This worker's gradients, same layout: written by the worker, scaled by its shard's rows. */
  grads: SharedArrayBuffer;
  /** Element count of each trainable weight, in order. */
  sizes: number[];
}

/** One shard of a batch: features [rows, ...inputShape] flat, and labels. */
export interface ShardRequest {
  x: Float32Array;
  y: Float32Array;
}

export type WorkerReply =
  | { kind: "ready" }
  /** Σ of the shard's row losses, its correct count; gradients are in the shared buffer. */
  | { kind: "done"; lossSum: number; correct: number }
  | { kind: "error"; message: string; stack?: string };
