/**
 * A gradient worker of the parallel step: a wasm replica of the model that, for each shard it is
 * sent, takes the current weights from shared memory, runs the hand-written step's forward and
 * backward pass, and writes its gradients (scaled by the shard's rows) back to shared memory.
 */
import { parentPort, workerData } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { resolveBackend } from "../backends.js";
import { planSequentialStep, type SequentialStep } from "../sequentialStep.js";
import type { ShardRequest, WorkerReply, WorkerSetup } from "./protocol.js";

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

async function runShard(step: SequentialStep, variables: tf.Variable[], request: ShardRequest): Promise<WorkerReply> {
  const weights = new Float32Array(setup.weights);
  const out = new Float32Array(setup.grads);
  const rows = request.y.length;
  let at = 0;
  tf.tidy(() => {
    for (const v of variables) {
      v.assign(tf.tensor(weights.subarray(at, at + v.size), v.shape, "float32"));
      at += v.size;
    }
  });
  let lossSum = 0;
  let correct = 0;
  const grads = tf.tidy(() => {
    const result = step.gradients(tf.tensor(request.x, [rows, ...setup.inputShape], "float32"), request.y);
    lossSum = result.loss * rows;
    correct = result.correct;
    return variables.map((v) => result.grads[v.name]);
  });
  at = 0;
  for (const g of grads) {
    const data = (await g.data()) as Float32Array;
    for (let i = 0; i < data.length; i++) out[at + i] = data[i] * rows;
    at += data.length;
    g.dispose();
  }
  return { kind: "done", lossSum, correct };
}

start().then(
  ({ step, variables }) => {
    // Shards arrive one at a time: the main thread waits for this reply before the next step.
    port.on("message", (request: ShardRequest) => {
      runShard(step, variables, request).then(reply, fail);
    });
    reply({ kind: "ready" });
  },
  fail,
);
