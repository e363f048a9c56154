/**
 * The optimizers local training uses: tfjs's SGD, and tfjs's Adam whose update of each smaller
 * variable runs as one pass on the wasm heap when the backend is wasm. tfjs's own Adam takes ~12
 * ops per variable, each a JS → wasm round trip: that overhead, not the arithmetic, is most of a
 * small variable's update. Same float32 results op for op, same iteration count and slots, so
 * checkpoints and resume are unchanged. (SGD's two ops are already as fast as one pass.)
 */
import * as tf from "@tensorflow/tfjs";
import { adamStep } from "./wasmHeapKernels.js";

export type OptimizerKind = "sgd" | "adam";

type VariableGradients = Parameters<tf.AdamOptimizer["applyGradients"]>[0];
type NamedGradient = { name: string; tensor: tf.Tensor };

function named(variableGradients: VariableGradients): NamedGradient[] {
  if (Array.isArray(variableGradients)) return variableGradients;
  return Object.entries(variableGradients as Record<string, tf.Tensor>).map(([name, tensor]) => ({ name, tensor }));
}

/** The variables the gradients update, when every one exists and they and the gradients are float32 on wasm. */
function heapUpdatable(gradients: NamedGradient[]): tf.Variable[] | undefined {
  if (tf.getBackend() !== "wasm") return undefined;
  const variables = gradients.map(({ name }) => tf.engine().registeredVariables[name]);
  const ok = gradients.every(({ tensor }, i) => tensor != null && tensor.dtype === "float32" && variables[i]?.dtype === "float32");
  return ok ? variables : undefined;
}

/** AdamOptimizer's state (private in its typings): β powers so far, and the moment slots in gradient order. */
interface AdamState {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
  accumulatedSecondMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
}

/**
 * Above this many elements tfjs's vectorised ops beat one scalar JavaScript pass for Adam (its
 * update takes three divisions and a square root per element); below it their per-op overhead wins.
 */
const HEAP_ADAM_MAX_SIZE = 8192;

class WasmAdamOptimizer extends tf.AdamOptimizer {
  override applyGradients(variableGradients: VariableGradients): void {
    const gradients = named(variableGradients);
    const variables = heapUpdatable(gradients);
    const state = this as unknown as Partial<AdamState>;
    // A tfjs whose Adam keeps its state differently takes its own path.
    const known = state.accBeta1 instanceof tf.Variable && state.accBeta2 instanceof tf.Variable && Array.isArray(state.accumulatedFirstMoment) && Array.isArray(state.accumulatedSecondMoment);
    if (!variables || !known) {
      super.applyGradients(variableGradients);
      return;
    }
    const { accBeta1, accBeta2, accumulatedFirstMoment: first, accumulatedSecondMoment: second } = state as AdamState;
    tf.tidy(() => {
      const oneMinusAccBeta1 = tf.sub(1, accBeta1);
      const oneMinusAccBeta2 = tf.sub(1, accBeta2);
      const constants = {
        beta1: this.beta1,
        beta2: this.beta2,
        oneMinusAccBeta1: oneMinusAccBeta1.dataSync()[0],
        oneMinusAccBeta2: oneMinusAccBeta2.dataSync()[0],
        epsilon: this.epsilon,
        learningRate: this.learningRate,
      };
      gradients.forEach(({ name, tensor: g }, i) => {
        const value = variables[i];
        first[i] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        second[i] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        const m = first[i]!.variable;
        const v = second[i]!.variable;
        if (value.size <= HEAP_ADAM_MAX_SIZE) {
          const next = adamStep(value, g, m, v, constants);
          m.assign(next.m);
          v.assign(next.v);
          value.assign(next.value);
          return;
        }
        // AdamOptimizer's own ops, in its order.
        const newM = tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1));
        const newV = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        const correctedM = tf.div(newM, oneMinusAccBeta1);
        const correctedV = tf.div(newV, oneMinusAccBeta2);
        m.assign(newM);
        v.assign(newV);
        value.assign(tf.add(tf.mul(tf.div(correctedM, tf.add(tf.sqrt(correctedV), this.epsilon)), -this.learningRate), value));
      });
      accBeta1.assign(tf.mul(accBeta1, this.beta1));
      accBeta2.assign(tf.mul(accBeta2, this.beta2));
    });
    this.incrementIterations();
  }
}

/** A fresh optimizer of `kind` with learning rate `lr` (tfjs's defaults otherwise). */
export function createOptimizer(kind: OptimizerKind, lr: number): tf.Optimizer {
  // tf.train.adam's defaults: β₁ 0.9, β₂ 0.999, ε the backend's.
  return kind === "adam" ? new WasmAdamOptimizer(lr, 0.9, 0.999) : tf.train.sgd(lr);
}
