/**
 * The demo's initial model: `--model <dir>`, else a built-in one chosen to fit the data — the
 * shipped digits MLP for 28×28×1 images with 10 classes, the shipped tabular MLP for 8 features
 * and 3 classes, and otherwise a small seeded MLP sized to the data.
 */
import type * as tfTypes from "@tensorflow/tfjs";
import { checkDataFitsModel } from "../train/trainLocal.js";
import type { DataSource } from "../train/data/source.js";

export interface DemoModel {
  model: tfTypes.LayersModel;
  /** "mlp-digits", "mlp-tabular", "mlp(<in>→32→<classes>)" or the --model folder. */
  description: string;
}

/** Pick or load the initial model and check that the data fits it. */
export async function chooseDemoModel(
  data: { featureShape: number[]; classes: number; sample: DataSource },
  options: { model?: string; seed: number },
): Promise<DemoModel> {
  const tf = await import("@tensorflow/tfjs");
  let built: DemoModel;
  if (options.model !== undefined) {
    const { loadModelDir } = await import("../train/modelIo.js");
    built = { model: await loadModelDir(options.model), description: options.model };
  } else {
    const { buildFixtureModel } = await import("../train/modelSpecs.js");
    const shape = data.featureShape.join("x");
    if (shape === "28x28x1" && data.classes <= 10) {
      built = { model: buildFixtureModel("mlp-digits", options.seed), description: "mlp-digits (784→64→10)" };
    } else if (shape === "8" && data.classes <= 3) {
      built = { model: buildFixtureModel("mlp-tabular", options.seed), description: "mlp-tabular (8→16→3)" };
    } else {
      const inputs = data.featureShape.reduce((a, b) => a * b, 1);
      const classes = Math.max(2, data.classes);
      const init = (offset: number) => tf.initializers.glorotUniform({ seed: options.seed + offset });
      const model = tf.sequential({ name: "demo-mlp" });
      // Flatten takes rank ≥ 2 only: tabular rows go straight into the first dense layer.
      if (data.featureShape.length > 1) model.add(tf.layers.flatten({ inputShape: data.featureShape }));
      model.add(tf.layers.dense({ units: 32, activation: "relu", kernelInitializer: init(1), ...(data.featureShape.length > 1 ? {} : { inputShape: data.featureShape }) }));
      model.add(tf.layers.dense({ units: classes, activation: "softmax", kernelInitializer: init(2) }));
      built = { model, description: `mlp (${inputs}→32→${classes})` };
    }
  }
  checkDataFitsModel(built.model, data.sample, built.description);
  return built;
}
