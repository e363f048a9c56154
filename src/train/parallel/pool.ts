/**
 * The parallel step's worker threads, kept between runs. Starting a worker (loading tfjs, the wasm
 * module and the model) costs about a second of a core, as much as several training steps of a
 * CIFAR-sized CNN; a demo trains many contributors and a `--follow`ing contributor trains every
 * round, always the same architecture. So a run hands its workers back when it ends, and the next
 * run of the same architecture and thread count takes them; idle workers do not keep the process
 * alive. One idle pool at most: another architecture's run stops it. A run may also start its pool
 * ahead, while it reads its data (`prewarmPool`).
 */
import { Worker } from "node:worker_threads";
import type { WorkerReply, WorkerRequest, WorkerSetup } from "./protocol.js";
import { allocateSharedFloats, type SharedFloats } from "./shared.js";

type Answer = Exclude<WorkerReply, { kind: "ready" } | { kind: "error" }>;

interface GradientWorker {
  worker: Worker;
  /** Settles the pending request, if any. */
  pending?: { resolve: (reply: Answer) => void; reject: (error: Error) => void };
  /** Set once the worker failed or exited: every later request fails with it. */
  failure?: Error;
}

export interface WorkerPool {
  readonly key: string;
  readonly buffers: SharedFloats;
  /** Worker k (from 0) computes with gradient buffer k + 1. */
  readonly size: number;
  /** Sends one request to worker k and waits for its answer; transfers `transfer`. */
  request(k: number, message: WorkerRequest, transfer?: ArrayBuffer[]): Promise<Answer>;
  /** False once any worker failed: the pool is then stopped instead of kept. */
  healthy(): boolean;
}

interface Pool extends WorkerPool {
  workers: GradientWorker[];
}

export interface PoolSetup {
  topology: unknown;
  inputShape: number[];
  classes: number;
  fromLogits: boolean;
  sizes: number[];
}

let idle: Pool | undefined;
/** Pools started in this process (tests read it to see workers reused). */
let started = 0;

/** How many worker pools this process has started. */
export function poolsStarted(): number {
  return started;
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

async function stop(pool: Pool): Promise<void> {
  for (const entry of pool.workers) {
    entry.worker.removeAllListeners("exit");
    entry.failure ??= new Error("the parallel training step was disposed");
  }
  await Promise.all(pool.workers.map((w) => w.worker.terminate()));
}

/** A pool starting ahead of its run (see `prewarmPool`): its workers do not hold the process open. */
let warming: { pool: Pool; ready: Promise<void> } | undefined;

async function start(key: string, setup: PoolSetup, threads: number, entry: URL | undefined): Promise<Pool> {
  const { pool, ready } = spawnPool(key, setup, threads, entry);
  try {
    await ready;
  } catch (error) {
    await stop(pool);
    throw error;
  }
  return pool;
}

/** Starts the workers of a pool; `ready` settles when every one holds its replica (or one failed). */
function spawnPool(key: string, setup: PoolSetup, threads: number, entry: URL | undefined): { pool: Pool; ready: Promise<void> } {
  started++;
  const total = setup.sizes.reduce((a, b) => a + b, 0);
  const buffers = allocateSharedFloats(total, threads);
  const { memory } = buffers;
  const shared = memory ? { memory } : { weights: buffers.weights.buffer as SharedArrayBuffer, targets: buffers.targets.buffer as SharedArrayBuffer, grads: buffers.grads.map((g) => g.buffer as SharedArrayBuffer) };
  const workers: GradientWorker[] = [];
  const ready: Promise<void>[] = [];
  for (let k = 1; k < threads; k++) {
    const worker = spawn(entry, { ...setup, ...shared, threads, index: k });
    const gw: GradientWorker = { worker };
    workers.push(gw);
    ready.push(
      new Promise<void>((resolve, reject) => {
        const fail = (error: Error): void => {
          gw.failure ??= error;
          gw.pending?.reject(gw.failure);
          gw.pending = undefined;
          reject(gw.failure);
        };
        worker.on("message", (message: WorkerReply) => {
          if (message.kind === "ready") resolve();
          else if (message.kind === "error") fail(workerFailure(k, message.message, Object.assign(new Error(message.message), { stack: message.stack })));
          else {
            const pending = gw.pending;
            gw.pending = undefined;
            pending?.resolve(message);
          }
        });
        worker.on("error", (error) => fail(workerFailure(k, error.message, error)));
        worker.on("exit", (code) => fail(workerFailure(k, `it exited (code ${code})`)));
      }),
    );
  }
  const pool: Pool = {
    key,
    workers,
    size: workers.length,
    buffers,
    request(k, message, transfer) {
      const gw = workers[k];
      if (gw.failure) return Promise.reject(gw.failure);
      return new Promise((resolve, reject) => {
        gw.pending = { resolve, reject };
        gw.worker.postMessage(message, transfer ?? []);
      });
    },
    healthy: () => workers.every((w) => !w.failure),
  };
  return { pool, ready: Promise.all(ready).then(() => undefined) };
}

/**
 * Starts the workers for a run that is about to begin, while the caller still reads its data: a
 * worker's start (loading tfjs and wasm, building the replica) then runs on another core instead of
 * before the first step. The next `acquirePool` with the same key takes them (waiting for them to
 * be ready); another key stops them. They do not hold the process open meanwhile. A start that
 * fails is only reported by the `acquirePool` that would take it, which then starts anew.
 */
export function prewarmPool(key: string, setup: PoolSetup, threads: number, entry?: URL): void {
  if ((idle?.key === key && idle.healthy()) || warming?.pool.key === key) return;
  const previous = warming;
  warming = spawnPool(key, setup, threads, entry);
  warming.ready.catch(() => undefined);
  warming.pool.workers.forEach((w) => w.worker.unref());
  if (previous) void stop(previous.pool);
}

/** Stops the warming pool, if any, ready or not. */
async function stopWarming(): Promise<void> {
  const w = warming;
  warming = undefined;
  if (w) await stop(w.pool);
}

/** The warming pool for `key`, once ready (stopped and not returned when it failed); any other is stopped. */
async function takeWarming(key: string): Promise<Pool | undefined> {
  if (warming?.pool.key !== key) {
    // Not this run's: stopped at once, ready or not (terminating a worker mid-start is safe).
    await stopWarming();
    return undefined;
  }
  const w = warming;
  warming = undefined;
  w.pool.workers.forEach((gw) => gw.worker.ref());
  try {
    await w.ready;
    return w.pool;
  } catch {
    await stop(w.pool);
    return undefined;
  }
}

/**
 * Workers for a run: the idle pool when it was made for the same key (architecture, shapes,
 * thread count, entry), else fresh ones (stopped again if any fails to start).
 */
export async function acquirePool(key: string, setup: PoolSetup, threads: number, entry?: URL): Promise<WorkerPool> {
  const kept = idle;
  idle = undefined;
  if (kept && kept.key === key && kept.healthy()) {
    kept.workers.forEach((w) => w.worker.ref());
    await stopWarming();
    return kept;
  }
  if (kept) await stop(kept);
  return (await takeWarming(key)) ?? start(key, setup, threads, entry);
}

/**
 * Hands a run's workers back: kept idle (not holding the process open) when healthy, else stopped.
 * `keep: false` stops them anyway: a step that failed midway may leave a worker busy with a shard
 * whose late answer would be taken for the next run's.
 */
export async function releasePool(pool: WorkerPool, options: { keep?: boolean } = {}): Promise<void> {
  const own = pool as Pool;
  if (!own.healthy() || options.keep === false) {
    await stop(own);
    return;
  }
  const previous = idle;
  idle = own;
  own.workers.forEach((w) => w.worker.unref());
  if (previous && previous !== own) await stop(previous);
}

/** Stops the idle workers, if any (tests, and callers that want the memory back). */
export async function stopIdleWorkers(): Promise<void> {
  const kept = idle;
  idle = undefined;
  if (kept) await stop(kept);
  await stopWarming();
}
