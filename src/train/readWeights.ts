import type * as tf from "@tensorflow/tfjs";
import type { WeightTensor } from "./modelIo.js";

/**
 * The model's weights as flat float32 arrays, in `model.weights` order, read asynchronously:
 * WebGPU in Node has no synchronous read (dataSync needs a browser canvas).
 */
export async function readWeights(model: tf.LayersModel): Promise<WeightTensor[]> {
  return Promise.all(
    model.weights.map(async (w) => {
      const value = w.read();
      return { name: w.originalName, shape: [...value.shape], dtype: "float32" as const, data: Float32Array.from((await value.data()) as Float32Array) };
    }),
  );
}
