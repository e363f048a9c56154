/**
 * The demo's data: a training set split across contributors and the operator's validation set,
 * either generated (digits-like images: a clear learning curve within a few rounds of a small MLP)
 * or read from `--data` with the training module's loaders.
 */
import fs from "node:fs";
import { UsageError } from "../core/errors.js";
import { arraySource, materialize, subsetSource, type DataSource } from "../train/data/source.js";
import { syntheticDigits } from "../train/data/synthetic.js";
import { preprocessedSource } from "../train/data/transform.js";
import { createStatsAccumulator, type PreprocessSpec } from "../core/preprocess.js";
import { partitionIndices, parsePartitionScheme } from "../train/partition.js";
import { createRng, permutation } from "../train/rng.js";

export interface DemoData {
  /** What the data is, for the summary ("generated digits-like images (2400)", a path…). */
  description: string;
  featureShape: number[];
  /** Number of classes (max label + 1). */
  classes: number;
  /** One shard per contributor, in memory, already through the job's preprocessing (as `dat train --job` does). */
  shards: DataSource[];
  /** The operator's validation split as read (raw): written to the job's validation file. */
  validation: DataSource;
  /** The validation split through the job's preprocessing (the baseline the model starts from). */
  validationPreprocessed: DataSource;
  /**
   * The job's preprocessing: z-score with statistics of the operator's validation split for
   * `--data` (raw feature scales such as 0..16 pixels saturate a fresh model), none for generated
   * images (already in [0, 1]).
   */
  preprocess: PreprocessSpec;
}

export interface PrepareDemoDataOptions {
  contributors: number;
  partition: string;
  seed: number;
  samples: number;
  testSplit: number;
  data?: string;
  labelColumn?: string;
  test?: string;
}

/** Open a data set file or folder with the training module's loader for its form (CSV, JSONL, IDX, PNG folder). */
async function openDataset(file: string, labelColumn?: string): Promise<DataSource> {
  const { openDataSource } = await import("../train/data/open.js");
  return openDataSource(file, { labelColumn });
}

/** Load a whole data set into memory (the demo's data sets are small). */
async function inMemory(source: DataSource): Promise<{ source: DataSource; labels: Float32Array }> {
  const { x, y } = await materialize(source);
  return { source: arraySource(source.name, x, y, source.featureShape), labels: y };
}

/**
 * Build the contributors' shards and the validation set.
 * @throws UsageError when a shard would be empty or the labels are not class indices.
 */
export async function prepareDemoData(options: PrepareDemoDataOptions): Promise<DemoData> {
  let train: DataSource;
  let labels: Float32Array;
  let validation: DataSource;
  let description: string;
  if (options.data === undefined) {
    const validationCount = Math.max(10, Math.round(options.samples * options.testSplit));
    const trainCount = options.samples - validationCount;
    // Two seeds from one: the class templates are shared, so both sets describe the same task.
    const generated = await inMemory(syntheticDigits({ count: trainCount, seed: options.seed }));
    train = generated.source;
    labels = generated.labels;
    validation = syntheticDigits({ count: validationCount, seed: options.seed + 1_000_003 });
    description = `generated digits-like 28×28 images (${trainCount} for training, ${validationCount} for validation)`;
  } else {
    const all = await inMemory(await openDataset(options.data, options.labelColumn));
    if (options.test !== undefined) {
      train = all.source;
      labels = all.labels;
      validation = (await inMemory(await openDataset(options.test, options.labelColumn))).source;
      description = `${options.data} (validation: ${options.test})`;
    } else {
      const n = all.labels.length;
      const held = Math.max(1, Math.round(n * options.testSplit));
      if (n - held < options.contributors) {
        throw new UsageError(`${options.data} has ${n} examples: too few for ${options.contributors} contributors after holding out ${held}.`, {
          code: "DEMO_DATA_TOO_SMALL",
        });
      }
      const order = Array.from(permutation(n, createRng(options.seed)));
      const trainIdx = order.slice(held);
      train = (await inMemory(subsetSource(all.source, trainIdx))).source;
      labels = Float32Array.from(trainIdx, (i) => all.labels[i]);
      validation = subsetSource(all.source, order.slice(0, held));
      description = `${options.data} (${n - held} for training, ${held} held out for validation)`;
    }
    if (!train.integerLabels || train.maxLabel < 1) {
      throw new UsageError(`${options.data}: the demo trains a classifier and needs integer class labels 0…k with k ≥ 1.`, {
        code: "DEMO_DATA_LABELS",
        hint: "Pick the class column with --label-column.",
      });
    }
  }

  const parts = partitionIndices(labels, options.contributors, parsePartitionScheme(options.partition), options.seed);
  const empty = parts.findIndex((p) => p.length === 0);
  if (empty >= 0) {
    throw new UsageError(`The ${options.partition} split left contributor ${empty + 1} without data.`, {
      code: "DEMO_EMPTY_SHARD",
      hint: "Use more data, fewer contributors, or a larger Dirichlet alpha.",
    });
  }
  let preprocess: PreprocessSpec = { kind: "none" };
  if (options.data !== undefined) {
    const acc = createStatsAccumulator(train.featureShape.reduce((a, b) => a * b, 1));
    for await (const sample of validation.read()) acc.add(sample.x);
    preprocess = { kind: "zscore", stats: acc.finish() };
  }
  const shards = parts.map((indices, i) => preprocessedSource(subsetSource(train, indices, `shard ${i + 1} of ${train.name}`), preprocess));
  return {
    description,
    featureShape: train.featureShape,
    classes: Math.max(train.maxLabel, validation.maxLabel) + 1,
    shards,
    validation,
    validationPreprocessed: preprocessedSource(validation, preprocess),
    preprocess,
  };
}

/**
 * Write a data set as the CSV the orchestrator's validation reader takes: a header of feature
 * columns f0…f(d−1) and `label`, one row per example.
 */
export async function writeValidationCsv(source: DataSource, file: string): Promise<{ labelColumn: string; rows: number }> {
  const width = source.featureShape.reduce((a, b) => a * b, 1);
  const header = [...Array.from({ length: width }, (_, i) => `f${i}`), "label"].join(",");
  const lines: string[] = [header];
  let rows = 0;
  for await (const sample of source.read()) {
    const cells = new Array<string>(width + 1);
    // Four decimals keep pixel and feature values faithful while halving the file.
    for (let i = 0; i < width; i++) cells[i] = String(Math.round(sample.x[i] * 1e4) / 1e4);
    cells[width] = String(sample.y);
    lines.push(cells.join(","));
    rows++;
  }
  await fs.promises.writeFile(file, lines.join("\n") + "\n");
  return { labelColumn: "label", rows };
}
