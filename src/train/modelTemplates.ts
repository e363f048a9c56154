/**
 * Models for a user's own data (`dat model init`): a small MLP or CNN classifier built from a
 * template, its input shape and class count given or read from a data file. Every template ends in
 * a softmax Dense layer and uses only the layers the hand-written wasm step covers (Conv2D,
 * MaxPooling2D, Flatten, Dense), so a template model trains on the fast path. Initialisers are
 * seeded: the same spec and seed give the same weights, hence the same model CID.
 */
import * as tf from "@tensorflow/tfjs";
import { UsageError, UserError } from "../core/errors.js";
import { openDataSource } from "./data/open.js";
import { describeLabelAt } from "./data/source.js";

export const TEMPLATE_NAMES = ["mlp", "cnn"] as const;
export type TemplateName = (typeof TEMPLATE_NAMES)[number];

/** What `buildTemplateModel` builds. */
export interface TemplateModelSpec {
  template: TemplateName;
  /** One sample's input shape, without the batch dimension: [features] or [height, width, channels]. */
  inputs: number[];
  classes: number;
  /** MLP: hidden Dense units; CNN: Conv2D filters, one 3×3 conv (+ 2×2 max pool) per entry. */
  hidden?: number[];
  seed?: number;
}

/** Hidden layers used when `--hidden` is not given. */
export const DEFAULT_HIDDEN: Readonly<Record<TemplateName, readonly number[]>> = { mlp: [64], cnn: [8, 16] };

const MAX_DIM = 1 << 20;

function parsePositiveInts(text: string, flag: string, separator: RegExp, example: string): number[] {
  const parts = text.trim().split(separator);
  const values = parts.map((p) => (/^\d+$/.test(p.trim()) ? Number(p.trim()) : NaN));
  if (parts.length === 0 || values.some((v) => !Number.isSafeInteger(v) || v < 1 || v > MAX_DIM)) {
    throw new UsageError(`${flag} "${text}" is not a list of positive whole numbers.`, { code: "MODEL_TEMPLATE_ARG", hint: `e.g. ${flag} ${example}` });
  }
  return values;
}

/** Parse `--inputs`: "64" (flat features) or "28x28x1" (height × width × channels). */
export function parseInputShape(text: string): number[] {
  const shape = parsePositiveInts(text, "--inputs", /[x×]/i, "64 or 28x28x1");
  if (shape.length !== 1 && shape.length !== 3) {
    throw new UsageError(`--inputs "${text}" has ${shape.length} dimensions; give 1 (features) or 3 (height x width x channels).`, {
      code: "MODEL_TEMPLATE_ARG",
      hint: "e.g. --inputs 64 or --inputs 28x28x1",
    });
  }
  return shape;
}

/** Parse `--hidden`: "64,32". */
export function parseHidden(text: string): number[] {
  return parsePositiveInts(text, "--hidden", /,/, "64,32");
}

/** Parse `--classes`: a whole number ≥ 2. */
export function parseClasses(text: string): number {
  const value = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(value) || value < 2 || value > MAX_DIM) {
    throw new UsageError(`--classes "${text}" must be a whole number ≥ 2.`, { code: "MODEL_TEMPLATE_ARG", hint: "e.g. --classes 10" });
  }
  return value;
}

/** The template a data shape calls for when none is named: images get a CNN, flat rows an MLP. */
export function defaultTemplateFor(inputs: number[]): TemplateName {
  return inputs.length === 3 ? "cnn" : "mlp";
}

/**
 * Build a seeded, untrained classifier from a template.
 * @throws UsageError MODEL_TEMPLATE_ARG when the spec cannot make a model (a CNN on flat inputs,
 * images too small for the requested convolutions, fewer than 2 classes).
 */
export function buildTemplateModel(spec: TemplateModelSpec): tf.LayersModel {
  const { template, inputs, classes } = spec;
  const hidden = spec.hidden ?? [...DEFAULT_HIDDEN[template]];
  const seed = spec.seed ?? 42;
  if (!(TEMPLATE_NAMES as readonly string[]).includes(template)) {
    throw new UsageError(`Unknown model template "${template}".`, { code: "MODEL_TEMPLATE_ARG", hint: `Use one of: ${TEMPLATE_NAMES.join(", ")}.` });
  }
  if (!Number.isSafeInteger(classes) || classes < 2) {
    throw new UsageError(`A classifier needs at least 2 classes, got ${classes}.`, { code: "MODEL_TEMPLATE_ARG" });
  }
  if (inputs.length === 0 || inputs.some((d) => !Number.isSafeInteger(d) || d < 1)) {
    throw new UsageError(`Input shape [${inputs.join("×")}] is not a list of positive whole numbers.`, { code: "MODEL_TEMPLATE_ARG" });
  }
  const init = (offset: number) => tf.initializers.glorotUniform({ seed: seed + offset });
  const model = tf.sequential({ name: `${template}_template` });
  if (template === "mlp") {
    if (inputs.length > 1) model.add(tf.layers.flatten({ inputShape: inputs }));
    hidden.forEach((units, i) => {
      const first = i === 0 && inputs.length === 1;
      model.add(tf.layers.dense({ ...(first ? { inputShape: inputs } : {}), units, activation: "relu", kernelInitializer: init(i + 1) }));
    });
    const first = hidden.length === 0 && inputs.length === 1;
    model.add(tf.layers.dense({ ...(first ? { inputShape: inputs } : {}), units: classes, activation: "softmax", kernelInitializer: init(hidden.length + 1) }));
    return model;
  }
  if (inputs.length !== 3) {
    throw new UsageError(`The cnn template needs image inputs (height x width x channels), got [${inputs.join("×")}].`, {
      code: "MODEL_TEMPLATE_ARG",
      hint: "Use --template mlp for flat rows, or --inputs 28x28x1 for images.",
    });
  }
  let [height, width] = inputs;
  hidden.forEach((filters, i) => {
    if (height < 3 || width < 3) {
      throw new UsageError(`Images of ${inputs[0]}×${inputs[1]} are too small for ${hidden.length} 3×3 convolutions.`, {
        code: "MODEL_TEMPLATE_ARG",
        hint: "Give fewer --hidden filter counts.",
      });
    }
    model.add(tf.layers.conv2d({ ...(i === 0 ? { inputShape: inputs } : {}), filters, kernelSize: 3, activation: "relu", kernelInitializer: init(i + 1) }));
    height -= 2;
    width -= 2;
    // Pool only while the map stays at least 2×2: a 1×1 map has nothing left to pool.
    if (height >= 2 && width >= 2) {
      model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
      height = Math.floor(height / 2);
      width = Math.floor(width / 2);
    }
  });
  model.add(tf.layers.flatten(hidden.length === 0 ? { inputShape: inputs } : {}));
  model.add(tf.layers.dense({ units: classes, activation: "softmax", kernelInitializer: init(hidden.length + 1) }));
  return model;
}

/** Number of scalar weights of a model. */
export function countModelParams(model: tf.LayersModel): number {
  return model.weights.reduce((sum, w) => sum + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
}

export interface InferredModelSpec {
  /** One sample's feature shape as the loader reads it ([columns] or [height, width, channels]). */
  inputs: number[];
  /** Largest label + 1. */
  classes: number;
  /** Samples in the file. */
  samples: number;
  /** The file or folder, as the loader names it. */
  source: string;
}

/**
 * Read a data file (CSV, JSONL, IDX, PNG folder) and return the input shape and class count a
 * classifier for it needs: classes = largest label + 1 (labels are class indices 0..k−1).
 * @throws UserError DATA_LABELS_NOT_CLASSES when a label is not a non-negative integer, or there is
 * only one class; the loaders' own errors (missing file, malformed row) pass through.
 */
export async function inferModelSpecFromData(dataPath: string, options: { labelColumn?: string } = {}): Promise<InferredModelSpec> {
  const data = await openDataSource(dataPath, { labelColumn: options.labelColumn });
  if (!data.integerLabels || data.maxLabel < 0) {
    const at = data.nonClassLabelAt;
    const where = at ? `${describeLabelAt(at)}: label ${at.value} is not a class index` : `${data.name} has labels that are not class indices`;
    throw new UserError(`${where} (a non-negative integer): a classifier cannot be made for this data.`, {
      code: "DATA_LABELS_NOT_CLASSES",
      hint: "Classification labels must be 0..k−1; pick the right --label-column, or encode the classes as integers.",
      data: { file: at?.file ?? data.name, ...(at ? { row: at.row, label: at.value } : {}) },
    });
  }
  const classes = data.maxLabel + 1;
  if (classes < 2) {
    throw new UserError(`${data.name} has only label 0: a classifier needs at least 2 classes.`, {
      code: "DATA_LABELS_NOT_CLASSES",
      hint: "Check the --label-column, or pass --classes with --inputs instead of --from-data.",
      data: { file: data.name },
    });
  }
  return { inputs: [...data.featureShape], classes, samples: data.size, source: data.name };
}
