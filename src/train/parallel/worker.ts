/**
 * A gradient worker of the parallel step: a wasm replica of the model. For each shard it first
 * brings its weights up to date (from shared memory at a run's start or after a main-thread
 * optimizer step; otherwise by applying the previous step's SGD update itself, from every thread's
 * gradients in shared memory, exactly as every other thread does), then runs the hand-written
 * step's forward and backward pass and writes its gradients (the shard's mean) to its shared
 * buffer; for an optimizer on the main thread it reduces a slice of the gradients. It lives as
 * long as its pool (see pool.ts): one start serves every run of the same architecture in the process.
 */
import { parentPort, workerData } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { resolveBackend } from "../backends.js";
import { planSequentialStep, type SequentialStep } from "../sequentialStep.js";
import type { WorkerReply, WorkerRequest, WorkerSetup } from "./protocol.js";
import { applySgd, assignWeights, awaitGradients, reduceSlice, shardGradientsInto, type SharedFloats } from "./shared.js";
import { PhaseClock, type PhaseTimes } from "./threadCpu.js";

const port = parentPort!;
const setup = workerData as WorkerSetup;

function reply(message: WorkerReply): void {
  port.postMessage(message);
}

function fail(error: unknown): void {
  const e = error instanceof Error ? error : new Error(String(error));
  reply({ kind: "error", message: e.message, stack: e.stack });
}

async function start(): Promise<{ step: SequentialStep; variables: tf.Variable[] }> {
  await resolveBackend("wasm");
  const model = await tf.models.modelFromJSON({ modelTopology: setup.topology } as tf.io.ModelArtifacts as never);
  const step = planSequentialStep(model, { kind: "classification", classes: setup.classes, fromLogits: setup.fromLogits });
  if (!step) throw new Error("the model's replica does not take the hand-written wasm step");
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  if (variables.length !== setup.sizes.length || variables.some((v, i) => v.size !== setup.sizes[i])) {
    throw new Error("the model's replica has other weights than the main thread's model");
  }
  return { step, variables };
}

const buffers: SharedFloats = {
  weights: new Float32Array(setup.weights),
  grads: [setup.grads[0].map((b) => new Float32Array(b)), setup.grads[1].map((b) => new Float32Array(b))],
  targets: new Float32Array(setup.targets),
  sync: new Int32Array(setup.sync),
};

/** The FedProx targets of the current run, as tensors (made from shared memory when a run first needs them). */
let targets: tf.Tensor[] | undefined;

function targetTensors(variables: tf.Variable[]): tf.Tensor[] {
  if (targets) return targets;
  let at = 0;
  targets = variables.map((v) => {
    const t = tf.tensor(buffers.targets.subarray(at, at + v.size), v.shape, "float32");
    at += v.size;
    return t;
  });
  return targets;
}

/** Answers one request (a shard's gradients, or a slice of the batch-mean gradient), then does the shard's `after` work. */
/** Phases timed after the last answer (the update), sent with the next one. */
let carried: PhaseTimes = {};

function handle(step: SequentialStep, variables: tf.Variable[], request: WorkerRequest): void {
  const phases: PhaseTimes = carried;
  carried = {};
  const clock = request.profile ? new PhaseClock(phases) : undefined;
  if (request.kind === "reduce") {
    reduceSlice(buffers.grads[request.slot], request.rows, request.lo, request.hi);
    clock?.mark("reduce");
    reply({ kind: "reduced", ...(clock ? { phases } : {}) });
    return;
  }
  const start = performance.now();
  if (request.before.kind === "assign") {
    assignWeights(variables, buffers.weights);
    targets?.forEach((t) => t.dispose());
    targets = undefined;
    clock?.mark("assign");
  }
  let lossSum = 0;
  let correct = 0;
  if (request.y.length > 0) {
    ({ lossSum, correct } = shardGradientsInto(step, variables, setup.inputShape, request.x, request.y, request.microBatch, buffers.grads[request.slot][setup.index]));
    clock?.mark("compute");
  }
  const computeMs = performance.now() - start;
  const after = request.after;
  if (after.kind === "none") {
    reply({ kind: "grads", lossSum, correct, computeMs, ...(clock ? { phases } : {}) });
    return;
  }
  // The answer goes first: the main thread takes it while this thread applies the update.
  reply({ kind: "grads", lossSum, correct, computeMs, ...(clock ? { phases } : {}) });
  const later = request.profile ? new PhaseClock(carried) : undefined;
  awaitGradients(buffers.sync, after.step);
  later?.mark("waitGrads");
  applySgd(variables, buffers.grads[request.slot], after.rows, after.lr, after.mu, after.mu > 0 ? targetTensors(variables) : undefined);
  later?.mark("update");
}

start().then(
  ({ step, variables }) => {
    // One request at a time: the main thread waits for each reply before it sends the next.
    port.on("message", (request: WorkerRequest) => {
      try {
        handle(step, variables, request);
      } catch (error) {
        fail(error);
      }
    });
    reply({ kind: "ready" });
  },
  fail,
);
