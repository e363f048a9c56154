/**
 * The small model specs the project ships in fixtures/ (built by scripts/make-fixtures.ts):
 * an MLP and a small CNN for 28×28×1 digits, and a small MLP for tabular data. Initialisers are
 * seeded so the generated files are reproducible.
 */
import * as tf from "@tensorflow/tfjs";

export type FixtureName = "mlp-digits" | "cnn-digits" | "mlp-tabular";
export const FIXTURE_NAMES: readonly FixtureName[] = ["mlp-digits", "cnn-digits", "mlp-tabular"];

/** Build one of the fixture architectures with seeded initial weights. */
export function buildFixtureModel(name: FixtureName, seed = 42): tf.LayersModel {
  const init = (offset: number) => tf.initializers.glorotUniform({ seed: seed + offset });
  const model = tf.sequential({ name });
  switch (name) {
    case "mlp-digits":
      model.add(tf.layers.flatten({ inputShape: [28, 28, 1] }));
      model.add(tf.layers.dense({ units: 64, activation: "relu", kernelInitializer: init(1) }));
      model.add(tf.layers.dense({ units: 10, activation: "softmax", kernelInitializer: init(2) }));
      break;
    case "cnn-digits":
      model.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, activation: "relu", kernelInitializer: init(1) }));
      model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
      model.add(tf.layers.conv2d({ filters: 16, kernelSize: 3, activation: "relu", kernelInitializer: init(2) }));
      model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
      model.add(tf.layers.flatten());
      model.add(tf.layers.dense({ units: 10, activation: "softmax", kernelInitializer: init(3) }));
      break;
    case "mlp-tabular":
      model.add(tf.layers.dense({ inputShape: [8], units: 16, activation: "relu", kernelInitializer: init(1) }));
      model.add(tf.layers.dense({ units: 3, activation: "softmax", kernelInitializer: init(2) }));
      break;
  }
  return model;
}
