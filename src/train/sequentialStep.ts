/**
 * A hand-written training step for the plain Sequential classifiers (Conv2D, MaxPooling2D,
 * Flatten, Dense; ReLU or linear inside, softmax or logits at the end) on the wasm backend.
 *
 * tfjs's generic step records ~150 small ops on a gradient tape and replays them backwards; on
 * wasm each op costs a JS → wasm round trip and several are slow scalar loops (broadcast adds,
 * reductions over leading axes, transposed matmuls). Here the forward pass runs fused XNNPACK
 * kernels (conv or matmul + bias + ReLU in one call), and the backward pass is written out: the
 * loss gradient (from the logits: a final softmax is folded into the loss), ReLU and max-pool backprops and bias gradients in one JavaScript pass each on
 * the wasm heap, and the heavy products (conv backprops, weight gradients) as XNNPACK calls —
 * except the first conv's weight gradient when a max pool follows it, summed in JavaScript over
 * just the pixels the pool passes gradient to. The maths is the generic step's: the same
 * gradients up to float rounding (tested against tf.grads on the cpu backend), handed to the
 * same optimizer.
 */
import * as tf from "@tensorflow/tfjs";
import type { Task } from "./modelShape.js";
import { registerWasmTrainingKernels } from "./wasmKernels.js";
import { channelSums, convGradsThroughMaxPool, maxPoolBackward, reluBackward, softmaxCrossEntropyBackward, transpose2d } from "./wasmHeapKernels.js";

type Activation = "linear" | "relu";

type Stage =
  | { kind: "flatten" }
  | { kind: "dense"; kernel: tf.Variable; bias?: tf.Variable; activation: Activation }
  | {
      kind: "conv";
      kernel: tf.Variable;
      bias?: tf.Variable;
      activation: Activation;
      strides: [number, number];
      pad: "valid" | "same";
    }
  | { kind: "maxPool"; poolSize: [number, number]; strides: [number, number]; pad: "valid" | "same" };

export interface StepGradients {
  /** Mean loss over the batch (without any FedProx term). */
  loss: number;
  /** Samples whose largest output is their label. */
  correct: number;
  /** d loss / d variable, keyed by variable name (as optimizer.applyGradients takes them). */
  grads: tf.NamedTensorMap;
}

export interface SequentialStep {
  /**
   * Loss, accuracy count and gradients of one batch. Call inside tf.tidy: every tensor it makes
   * (gradients included) belongs to the caller's scope.
   */
  gradients(xs: tf.Tensor, labels: ArrayLike<number>): StepGradients;
}

function pair(value: unknown): [number, number] | undefined {
  if (typeof value === "number") return [value, value];
  if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === "number")) return [value[0], value[1]];
  if (Array.isArray(value) && value.length === 1 && typeof value[0] === "number") return [value[0], value[0]];
  return undefined;
}

function activationOf(config: Record<string, unknown>): string {
  return String(config.activation ?? "linear");
}

/** The layer's weights as [kernel, bias?], or undefined unless they are all trainable float32 variables. */
function weightsOf(layer: tf.layers.Layer, useBias: boolean): { kernel: tf.Variable; bias?: tf.Variable } | undefined {
  const weights = layer.weights;
  if (weights.length !== (useBias ? 2 : 1) || layer.trainableWeights.length !== weights.length) return undefined;
  const [kernel, bias] = weights.map((w) => w.read() as tf.Variable);
  if (!(kernel instanceof tf.Variable) || kernel.dtype !== "float32") return undefined;
  if (useBias && (!(bias instanceof tf.Variable) || bias.dtype !== "float32")) return undefined;
  return { kernel, bias };
}

/** One layer as a stage, or undefined when it is something this step does not cover. */
function stageOf(layer: tf.layers.Layer, inputShape: (number | null)[], last: boolean): Stage | undefined {
  const config = layer.getConfig() as Record<string, unknown>;
  const activation = activationOf(config);
  // The last layer may end in a softmax (folded into the loss); inner layers are linear or ReLU.
  const allowed = last ? ["linear", "softmax"] : ["linear", "relu"];
  switch (layer.getClassName()) {
    case "Flatten":
      return layer.weights.length === 0 ? { kind: "flatten" } : undefined;
    case "Dense": {
      if (inputShape.length !== 2 || !allowed.includes(activation)) return undefined;
      const weights = weightsOf(layer, config.useBias !== false);
      return weights && { kind: "dense", ...weights, activation: activation === "relu" ? "relu" : "linear" };
    }
    case "Conv2D": {
      if (last || inputShape.length !== 4 || !allowed.includes(activation)) return undefined;
      if ((config.dataFormat ?? "channelsLast") !== "channelsLast") return undefined;
      const strides = pair(config.strides ?? 1);
      const dilation = pair(config.dilationRate ?? 1);
      const pad = config.padding ?? "valid";
      if (!strides || !dilation || dilation[0] !== 1 || dilation[1] !== 1 || (pad !== "valid" && pad !== "same")) return undefined;
      const weights = weightsOf(layer, config.useBias !== false);
      return weights && { kind: "conv", ...weights, activation: activation === "relu" ? "relu" : "linear", strides, pad };
    }
    case "MaxPooling2D": {
      if (last || inputShape.length !== 4 || layer.weights.length > 0) return undefined;
      if ((config.dataFormat ?? "channelsLast") !== "channelsLast") return undefined;
      const poolSize = pair(config.poolSize ?? 2);
      const strides = pair(config.strides ?? config.poolSize ?? 2);
      const pad = config.padding ?? "valid";
      if (!poolSize || !strides || (pad !== "valid" && pad !== "same")) return undefined;
      return { kind: "maxPool", poolSize, strides, pad };
    }
    default:
      return undefined;
  }
}

/**
 * The hand-written step for `model`, or undefined when the backend is not wasm or the model is
 * not a Sequential classifier made only of the layers covered here (all weights trainable);
 * the caller then takes tfjs's generic step.
 */
export function planSequentialStep(model: tf.LayersModel, task: Task): SequentialStep | undefined {
  if (tf.getBackend() !== "wasm" || task.kind !== "classification") return undefined;
  if (!(model instanceof tf.Sequential) || model.layers.length === 0) return undefined;
  let shape = model.inputs[0].shape;
  const stages: Stage[] = [];
  for (let i = 0; i < model.layers.length; i++) {
    const layer = model.layers[i];
    const last = i === model.layers.length - 1;
    const stage = stageOf(layer, shape, last);
    if (!stage) return undefined;
    stages.push(stage);
    shape = layer.computeOutputShape(shape) as (number | null)[];
  }
  const final = stages[stages.length - 1];
  if (final.kind !== "dense") return undefined;
  const lastActivation = activationOf(model.layers[model.layers.length - 1].getConfig() as Record<string, unknown>);
  if (task.fromLogits !== (lastActivation !== "softmax")) return undefined;
  const owned = new Set(stages.flatMap((s) => ("kernel" in s ? [s.kernel.name, ...(s.bias ? [s.bias.name] : [])] : [])));
  const trainable = model.trainableWeights.map((w) => (w.read() as tf.Variable).name);
  if (trainable.length !== owned.size || !trainable.every((name) => owned.has(name))) return undefined;
  registerWasmTrainingKernels();
  return { gradients: (xs, labels) => stepGradients(stages, xs, labels) };
}

/** Dense kernels at least this large run their forward product transposed (see `forward`). */
const TRANSPOSED_DENSE_MIN_WEIGHTS = 1 << 16;

function forward(stage: Stage, x: tf.Tensor): tf.Tensor {
  switch (stage.kind) {
    case "flatten":
      return tf.reshape(x, [x.shape[0], -1]);
    case "dense": {
      const kernel = stage.kernel as tf.Tensor as tf.Tensor2D;
      const [inputs, units] = kernel.shape;
      const rows = x.shape[0];
      if (inputs * units >= TRANSPOSED_DENSE_MIN_WEIGHTS && units >= 3 * rows) {
        // y = (Wᵀ·xᵀ)ᵀ. XNNPACK packs its right operand as weights at every call, and W changes every
        // step: packing a 1M-weight kernel cost ~18 ms a step (a fixed cost each thread of the parallel
        // step paid again), transposing it ~7 ms and packing xᵀ next to nothing. Same sums, other order.
        const y = transpose2d(tf.matMul(transpose2d(kernel), transpose2d(x as tf.Tensor2D)));
        const z = stage.bias ? tf.add(y, stage.bias) : y;
        return stage.activation === "relu" ? tf.relu(z) : z;
      }
      // Outside a gradient tape tfjs runs this as one fused XNNPACK call.
      return tf.fused.matMul({ a: x as tf.Tensor2D, b: kernel, bias: stage.bias, activation: stage.activation });
    }
    case "conv":
      return tf.fused.conv2d({
        x: x as tf.Tensor4D,
        filter: stage.kernel as tf.Tensor as tf.Tensor4D,
        strides: stage.strides,
        pad: stage.pad,
        dataFormat: "NHWC",
        dilations: 1,
        bias: stage.bias,
        activation: stage.activation,
      });
    case "maxPool":
      return tf.maxPool(x as tf.Tensor4D, stage.poolSize, stage.strides, stage.pad);
  }
}

function stepGradients(stages: Stage[], xs: tf.Tensor, labels: ArrayLike<number>): StepGradients {
  // activations[i] is stage i's input; activations[i + 1] its output (after its activation).
  const activations: tf.Tensor[] = [xs];
  for (const stage of stages) activations.push(forward(stage, activations[activations.length - 1]));
  const logits = activations[activations.length - 1] as tf.Tensor2D;
  const { loss, correct, dLogits } = softmaxCrossEntropyBackward(logits, labels);
  const grads: tf.NamedTensorMap = {};
  // No stage before the first weighted one needs an input gradient.
  const firstWeighted = stages.findIndex((s) => s.kind === "dense" || s.kind === "conv");
  // dy: d loss / d (stage i's output); preActivation: already through that stage's activation.
  let dy: tf.Tensor = dLogits;
  let preActivation = true;
  for (let i = stages.length - 1; i >= firstWeighted; i--) {
    const stage = stages[i];
    const input = activations[i];
    const output = activations[i + 1];
    const wantInput = i > firstWeighted;
    switch (stage.kind) {
      case "flatten":
        dy = tf.reshape(dy, input.shape);
        preActivation = false;
        break;
      case "maxPool": {
        const before = stages[i - 1];
        const reluBefore = before !== undefined && "activation" in before && before.activation === "relu";
        const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], stage.poolSize, stage.strides, 1, stage.pad);
        if (before?.kind === "conv" && i - 1 === firstWeighted) {
          // The first conv needs no input gradient: its weight gradients come straight from the pool's.
          const convInput = activations[i - 1] as tf.Tensor4D;
          const conv = tf.backend_util.computeConv2DInfo(convInput.shape, before.kernel.shape as [number, number, number, number], before.strides, 1, before.pad);
          const { dW, db } = convGradsThroughMaxPool(convInput, input as tf.Tensor4D, output as tf.Tensor4D, dy as tf.Tensor4D, conv, info, reluBefore);
          grads[before.kernel.name] = dW;
          if (before.bias) grads[before.bias.name] = db;
          else db.dispose();
          i--;
          break;
        }
        dy = maxPoolBackward(dy as tf.Tensor4D, input as tf.Tensor4D, output as tf.Tensor4D, info, reluBefore);
        preActivation = reluBefore;
        break;
      }
      case "dense": {
        const dz = stage.activation === "relu" && !preActivation ? reluBackward(dy, output) : dy;
        const x = input as tf.Tensor2D;
        grads[stage.kernel.name] = tf.matMul(transpose2d(x), dz as tf.Tensor2D);
        if (stage.bias) grads[stage.bias.name] = channelSums(dz);
        // dx = dz·Wᵀ computed as (W·dzᵀ)ᵀ: XNNPACK packs its right operand as weights at every call (W
        // changes each step), and packing a transposed 1M-weight kernel cost ~15 ms a step whatever the
        // batch — a fixed cost every thread of the parallel step paid again. dzᵀ is [units, batch]: cheap.
        if (wantInput) dy = transpose2d(tf.matMul(stage.kernel as tf.Tensor as tf.Tensor2D, transpose2d(dz as tf.Tensor2D)));
        preActivation = false;
        break;
      }
      case "conv": {
        const dz = stage.activation === "relu" && !preActivation ? reluBackward(dy, output) : dy;
        const attrs = { strides: stage.strides, pad: stage.pad, dataFormat: "NHWC", dimRoundingMode: undefined };
        grads[stage.kernel.name] = tf.engine().runKernel(
          "Conv2DBackpropFilter",
          { x: input, dy: dz },
          { ...attrs, filterShape: [...stage.kernel.shape] } as unknown as tf.NamedAttrMap,
        ) as tf.Tensor;
        if (stage.bias) grads[stage.bias.name] = channelSums(dz);
        if (wantInput) {
          dy = tf.engine().runKernel(
            "Conv2DBackpropInput",
            { dy: dz, filter: stage.kernel },
            { ...attrs, inputShape: [...input.shape] } as unknown as tf.NamedAttrMap,
          ) as tf.Tensor;
        }
        preActivation = false;
        break;
      }
    }
  }
  return { loss, correct, grads };
}
