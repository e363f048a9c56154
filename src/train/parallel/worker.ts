/**
 * A gradient worker of the parallel step: a wasm replica of the model. For each shard it takes
 * the current weights from shared memory, runs the hand-written step's forward and backward pass
 * and writes its gradients (the shard's mean) to its shared buffer; for each update it
 * reduces and updates its slice of the weights. It lives as long as its pool (see pool.ts): one
 * start serves every run of the same architecture in the process.
 */
import { parentPort, workerData } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { resolveBackend } from "../backends.js";
import { planSequentialStep, type SequentialStep } from "../sequentialStep.js";
import type { WorkerReply, WorkerRequest, WorkerSetup } from "./protocol.js";
import { assignWeights, shardGradientsInto, sharedFloatsIn, updateSlice, type SharedFloats } from "./shared.js";
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

function sharedBuffers(): SharedFloats {
  if (setup.memory) return sharedFloatsIn(setup.memory, setup.sizes.reduce((a, b) => a + b, 0), setup.threads);
  if (!setup.weights || !setup.grads || !setup.targets) throw new Error("the worker was given no shared buffers");
  return { weights: new Float32Array(setup.weights), grads: setup.grads.map((b) => new Float32Array(b)), targets: new Float32Array(setup.targets) };
}

const buffers = sharedBuffers();

function handle(step: SequentialStep, variables: tf.Variable[], request: WorkerRequest): WorkerReply {
  const phases: PhaseTimes = {};
  const clock = request.profile ? new PhaseClock(phases) : undefined;
  if (request.kind === "update") {
    const proxSum = updateSlice(buffers, request.mode, request.rows, request.lr, request.mu, request.lo, request.hi);
    clock?.mark("update");
    return { kind: "updated", proxSum, ...(clock ? { phases } : {}) };
  }
  const start = performance.now();
  assignWeights(variables, buffers.weights);
  clock?.mark("assign");
  const { lossSum, correct } = shardGradientsInto(step, variables, setup.inputShape, request.x, request.y, request.microBatch, buffers.grads[setup.index]);
  clock?.mark("compute");
  return { kind: "grads", lossSum, correct, computeMs: performance.now() - start, ...(clock ? { phases } : {}) };
}

start().then(
  ({ step, variables }) => {
    // One request at a time: the main thread waits for each reply before it sends the next.
    port.on("message", (request: WorkerRequest) => {
      try {
        reply(handle(step, variables, request));
      } catch (error) {
        fail(error);
      }
    });
    reply({ kind: "ready" });
  },
  fail,
);
