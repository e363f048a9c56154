import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveBackend } from "../../src/train/backends.js";
import { encodeIdx } from "../../src/train/data/idx.js";
import { arraySource } from "../../src/train/data/source.js";
import { evaluateClassifier } from "../../src/train/modelEval.js";
import { loadModelDir, saveModelDir } from "../../src/train/modelIo.js";
import {
  buildTemplateModel,
  countModelParams,
  inferModelSpecFromData,
  parseClasses,
  parseHidden,
  parseInputShape,
} from "../../src/train/modelTemplates.js";
import { describeModel } from "../../src/train/trainLocal.js";

let dir: string;
beforeAll(async () => {
  await resolveBackend("cpu");
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "dat-templates-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string | Buffer): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

describe("template argument parsing", () => {
  it("reads flat and image input shapes", () => {
    expect(parseInputShape("64")).toEqual([64]);
    expect(parseInputShape("28x28x1")).toEqual([28, 28, 1]);
    expect(parseInputShape("32X32x3")).toEqual([32, 32, 3]);
    expect(parseHidden("64,32")).toEqual([64, 32]);
    expect(parseClasses("10")).toBe(10);
  });

  it.each(["", "0", "-3", "28x28", "2.5", "28xx1", "abc", "1x2x3x4"])("refuses --inputs %j as a usage error", (text) => {
    expect(() => parseInputShape(text)).toThrow(expect.objectContaining({ code: "MODEL_TEMPLATE_ARG", exitCode: 2 }));
  });

  it.each(["", "64,", "64,-1", "a", "1.5"])("refuses --hidden %j", (text) => {
    expect(() => parseHidden(text)).toThrow(expect.objectContaining({ code: "MODEL_TEMPLATE_ARG" }));
  });

  it.each(["1", "0", "x", "2.5"])("refuses --classes %j", (text) => {
    expect(() => parseClasses(text)).toThrow(expect.objectContaining({ code: "MODEL_TEMPLATE_ARG" }));
  });
});

describe("buildTemplateModel", () => {
  it("builds an MLP whose layer sizes and parameter count follow the spec", () => {
    const model = buildTemplateModel({ template: "mlp", inputs: [64], classes: 10, hidden: [64, 32] });

    // (64·64 + 64) + (64·32 + 32) + (32·10 + 10), counted by hand.
    expect(countModelParams(model)).toBe(4160 + 2080 + 330);
    expect(describeModel(model)).toEqual({ inputShape: [64], task: { kind: "classification", classes: 10, fromLogits: false } });
    model.dispose();
  });

  it("builds a CNN of 3×3 convs and 2×2 pools ending in a softmax over the classes", () => {
    const model = buildTemplateModel({ template: "cnn", inputs: [28, 28, 1], classes: 10 });

    expect(model.layers.map((l) => l.getClassName())).toEqual(["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense"]);
    // 28 → conv 26 → pool 13 → conv 11 → pool 5: 5·5·16 features into the Dense layer.
    expect(model.layers[4].outputShape).toEqual([null, 400]);
    expect(countModelParams(model)).toBe(8 * 9 + 8 + (16 * 8 * 9 + 16) + (400 * 10 + 10));
    const probs = tf.tidy(() => (model.predict(tf.ones([2, 28, 28, 1])) as tf.Tensor).sum(-1).arraySync() as number[]);
    expect(probs[0]).toBeCloseTo(1, 5);
    model.dispose();
  });

  it("gives the same weights for the same seed and different ones for another", () => {
    const weightsOf = (seed: number) => {
      const m = buildTemplateModel({ template: "mlp", inputs: [8], classes: 3, seed });
      const w = Array.from(m.weights[0].read().dataSync());
      m.dispose();
      return w;
    };
    expect(weightsOf(7)).toEqual(weightsOf(7));
    expect(weightsOf(7)).not.toEqual(weightsOf(8));
  });

  it("round-trips through the model folder format dat loads", async () => {
    const model = buildTemplateModel({ template: "cnn", inputs: [12, 12, 3], classes: 4, hidden: [4] });
    const target = path.join(dir, "cnn-folder");

    await saveModelDir(model, target);
    const loaded = await loadModelDir(target);

    expect(describeModel(loaded).inputShape).toEqual([12, 12, 3]);
    expect(countModelParams(loaded)).toBe(countModelParams(model));
    model.dispose();
    loaded.dispose();
  });

  it("refuses a CNN on flat inputs and images too small for the convolutions", () => {
    expect(() => buildTemplateModel({ template: "cnn", inputs: [64], classes: 3 })).toThrow(/needs image inputs/);
    expect(() => buildTemplateModel({ template: "cnn", inputs: [4, 4, 1], classes: 3, hidden: [4, 4, 4] })).toThrow(/too small/);
    expect(() => buildTemplateModel({ template: "mlp", inputs: [4], classes: 1 })).toThrow(/at least 2 classes/);
  });
});

describe("inferModelSpecFromData", () => {
  it("reads columns and classes from a CSV with a named label column", async () => {
    const file = write("table.csv", "a,b,species,c\n1,2,0,3\n4,5,2,6\n7,8,1,9\n");

    const spec = await inferModelSpecFromData(file, { labelColumn: "species" });

    expect(spec).toMatchObject({ inputs: [3], classes: 3, samples: 3 });
  });

  it("reads the image shape and classes from an IDX pair", async () => {
    const pixels = new Uint8Array(5 * 6 * 7);
    const idx = encodeIdx(pixels, 5, 6, 7, Uint8Array.from([0, 4, 1, 2, 3]));
    const images = write("small-images-idx3-ubyte", idx.images);
    write("small-labels-idx1-ubyte", idx.labels);

    expect(await inferModelSpecFromData(images)).toMatchObject({ inputs: [6, 7, 1], classes: 5, samples: 5 });
  });

  it("refuses fractional or negative labels, naming the file", async () => {
    const fractional = write("fractional.csv", "a,label\n1,0.5\n2,1\n");
    const negative = write("negative.csv", "a,label\n1,-1\n2,1\n");

    await expect(inferModelSpecFromData(fractional)).rejects.toThrow(expect.objectContaining({ code: "DATA_LABELS_NOT_CLASSES", message: expect.stringContaining(fractional) }));
    await expect(inferModelSpecFromData(negative)).rejects.toThrow(
      expect.objectContaining({ code: "DATA_LABELS_NOT_CLASSES", exitCode: 3, message: expect.stringContaining(`${negative}, row 1 (line 2): label -1 is not a class index`) }),
    );
  });

  it("refuses data with a single class", async () => {
    const file = write("one-class.csv", "a,label\n1,0\n2,0\n");
    await expect(inferModelSpecFromData(file)).rejects.toThrow(/only label 0/);
  });
});

describe("evaluateClassifier", () => {
  /** A 2-feature, 3-class linear model whose logits are (x0, x1, 0)·scale: predictions are known by hand. */
  function linearModel(scale: number): tf.LayersModel {
    const model = tf.sequential();
    model.add(tf.layers.dense({ inputShape: [2], units: 3, activation: "softmax" }));
    model.layers[0].setWeights([tf.tensor2d([[scale, 0, 0], [0, scale, 0]]), tf.zeros([3])]);
    return model;
  }

  it("computes accuracy, loss and per-class precision and recall", async () => {
    const model = linearModel(1);
    const x = Float32Array.from([2, 0, 0, 2, -1, -1, 3, 0]);
    const y = [0, 1, 2, 1];
    const result = await evaluateClassifier(model, arraySource("hand", x, y, [2]), { batchSize: 3 });

    // Row 3 has logits (-1,-1,0): predicted class 2. Row 4: class 0, label 1.
    expect(result.count).toBe(4);
    expect(result.accuracy).toBeCloseTo(3 / 4, 10);
    expect(result.classes).toEqual([
      { class: 0, count: 1, predicted: 2, precision: 0.5, recall: 1 },
      { class: 1, count: 2, predicted: 1, precision: 1, recall: 0.5 },
      { class: 2, count: 1, predicted: 1, precision: 1, recall: 1 },
    ]);
    const ce = (logits: number[], label: number) => Math.log(logits.reduce((s, l) => s + Math.exp(l), 0)) - logits[label];
    const expected = (ce([2, 0, 0], 0) + ce([0, 2, 0], 1) + ce([-1, -1, 0], 2) + ce([3, 0, 0], 1)) / 4;
    expect(result.loss).toBeCloseTo(expected, 5);
    model.dispose();
  });

  it("reports the true loss of a saturated model, not a clipped one", async () => {
    // p(label) = e^-100 underflows float32 probabilities; the loss from logits is still ≈ 100.
    const model = linearModel(100);
    const result = await evaluateClassifier(model, arraySource("saturated", Float32Array.from([1, 0]), [1], [2]));
    expect(result.loss).toBeCloseTo(100, 3);
    model.dispose();
  });

  it("refuses data whose feature count does not fit, naming file and both shapes", async () => {
    const model = linearModel(1);
    const data = arraySource("wide.csv", new Float32Array(6), [0, 1], [3]);
    await expect(evaluateClassifier(model, data, { modelName: "m/model.json" })).rejects.toThrow(
      expect.objectContaining({
        code: "DATA_MODEL_MISMATCH",
        exitCode: 3,
        message: expect.stringMatching(/wide\.csv does not fit m\/model\.json: the data has 3 features .*the model expects input \[2\] .*3 classes/),
      }),
    );
    model.dispose();
  });

  it("names the row of a label outside the classes", async () => {
    const model = linearModel(1);
    const data = arraySource("labels.csv", new Float32Array(6), [0, 2, 5], [2]);
    await expect(evaluateClassifier(model, data)).rejects.toThrow(
      expect.objectContaining({ code: "DATA_LABEL_RANGE", message: expect.stringMatching(/labels\.csv, row 3: label 5 .*0\.\.2/) }),
    );
    model.dispose();
  });

  it("names the row and feature of a non-finite value after the transform", async () => {
    const model = linearModel(1);
    const data = arraySource("t.csv", Float32Array.from([1, 1, 0, 1]), [0, 1], [2]);
    const divideByFirst = (x: Float32Array) => {
      x[1] = x[1] / x[0];
    };
    await expect(evaluateClassifier(model, data, { transform: divideByFirst })).rejects.toThrow(
      expect.objectContaining({ code: "DATA_NOT_FINITE", message: expect.stringMatching(/t\.csv, row 2: feature 2 is Infinity after preprocessing/) }),
    );
    model.dispose();
  });
});
