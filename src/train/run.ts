/**
 * The service behind `dat train` (both the --model/--data path and the orchestrator's --job path):
 * pick the backend, load and check model and data, train, and keep the result — trained model,
 * delta (trained − global), metrics — under <home>/runs/<id>/ with a row in the database.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { UserError } from "../core/errors.js";
import { openDatabase } from "../db/index.js";
import { latestStoppedRun, upsertTrainingRun } from "../db/trainingRuns.js";
import { resolveBackend, webgpuFailure, type BackendPreference } from "./backends.js";
import type { Normalization } from "./data/csv.js";
import { openDataSource } from "./data/open.js";
import { preprocessedSource } from "./data/transform.js";
import type { PreprocessSpec } from "../core/preprocess.js";
import { modelFromFiles, packModelFiles, readModelFiles, saveModelDir, type WeightTensor } from "./modelIo.js";
import type { OptimizerKind } from "./optimizer.js";
import { splitCounts } from "./batches.js";
import type { BatchProgress, EpochMetrics, TrainMetrics } from "./metrics.js";
import { checkDataFitsModel, describeModel } from "./modelShape.js";
import { prewarmTraining, trainLocal } from "./trainLocal.js";

export interface RunTrainingOptions {
  home: string;
  /** Folder of the global model (model.json + weights). Ignored with resume (the run's own is used). */
  modelDir?: string;
  dataPath?: string;
  labelColumn?: string;
  normalize?: Normalization;
  /** The job's preprocessing, applied to every sample after loading (instead of `normalize`). */
  preprocess?: PreprocessSpec;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  optimizer?: OptimizerKind;
  mu?: number;
  valSplit?: number;
  seed?: number;
  backend?: BackendPreference;
  /** Let a forced webgpu backend train on a software adapter. */
  allowSoftwareGpu?: boolean;
  /** Worker threads for data-parallel training on wasm (default: trainLocal's, all cores for long runs). */
  threads?: number;
  jobId?: number | null;
  /** Continue the latest stopped run (of this job, when jobId is given). */
  resume?: boolean;
  signal?: AbortSignal;
  onStart?: (info: { id: string; backend: string; warnings: string[]; sampleCount: number; valCount: number; epochs: number; batchesPerEpoch: number }) => void;
  onEpoch?: (metrics: EpochMetrics) => void;
  onBatch?: (progress: BatchProgress) => void;
}

export interface TrainRunResult {
  id: string;
  jobId: number | null;
  runDir: string;
  /** The trained model folder. */
  modelDir: string;
  /** delta.json (names, shapes, byte offsets) + delta.bin (float32, little-endian). */
  deltaPath: string;
  globalModelDir: string;
  modelHash: string;
  backend: string;
  /** Threads that computed gradients (1 unless the hand-written wasm step ran data-parallel). */
  threads: number;
  warnings: string[];
  sampleCount: number;
  valCount: number;
  epochsCompleted: number;
  stopped: boolean;
  metrics: TrainMetrics;
  weights: WeightTensor[];
  delta: WeightTensor[];
}

interface StoredOptions {
  dataPath: string;
  labelColumn?: string;
  normalize?: Normalization;
  /** The job's preprocessing, applied to every sample after loading (instead of `normalize`). */
  preprocess?: PreprocessSpec;
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: OptimizerKind;
  mu: number;
  valSplit: number;
  seed: number;
}

/** Write a delta as delta.json (manifest) + delta.bin; returns the manifest path. */
async function writeDeltaFiles(dir: string, delta: WeightTensor[]): Promise<string> {
  let offset = 0;
  const manifest = delta.map((d) => {
    const entry = { name: d.name, shape: d.shape, dtype: d.dtype, offset, length: d.data.length };
    offset += d.data.byteLength;
    return entry;
  });
  const bin = Buffer.alloc(offset);
  let at = 0;
  for (const d of delta) {
    Buffer.from(d.data.buffer, d.data.byteOffset, d.data.byteLength).copy(bin, at);
    at += d.data.byteLength;
  }
  await fs.promises.writeFile(path.join(dir, "delta.bin"), bin);
  const manifestPath = path.join(dir, "delta.json");
  await fs.promises.writeFile(manifestPath, JSON.stringify({ version: 1, file: "delta.bin", weights: manifest }, null, 1));
  return manifestPath;
}

/** Read back a delta written by writeDeltaFiles. */
export async function readDeltaFiles(manifestPath: string): Promise<WeightTensor[]> {
  const manifest = JSON.parse(await fs.promises.readFile(manifestPath, "utf8")) as {
    file: string;
    weights: { name: string; shape: number[]; offset: number; length: number }[];
  };
  const bin = await fs.promises.readFile(path.join(path.dirname(manifestPath), manifest.file));
  return manifest.weights.map((w) => ({
    name: w.name,
    shape: w.shape,
    dtype: "float32" as const,
    data: new Float32Array(bin.buffer.slice(bin.byteOffset + w.offset, bin.byteOffset + w.offset + w.length * 4)),
  }));
}

function newRunId(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*$/, "").replace("T", "-");
  return `${stamp}-${crypto.randomBytes(3).toString("hex")}`;
}

/**
 * Train a model on local data and keep the result for the next step to push. Every data and model
 * error is raised before the first batch. With `signal`, stops after the current batch and keeps
 * a checkpoint that `resume: true` continues.
 */
export async function runTraining(options: RunTrainingOptions): Promise<TrainRunResult> {
  const db = openDatabase(options.home);
  try {
    let id: string;
    let globalModelDir: string;
    let stored: StoredOptions;
    let createdAt = Date.now();
    const jobId = options.jobId ?? null;
    if (options.resume) {
      const previous = latestStoppedRun(db, jobId);
      if (!previous) {
        throw new UserError("No stopped training run to resume.", { code: "RESUME_NO_CHECKPOINT", hint: "Start one with dat train --model <dir> --data <path>." });
      }
      id = previous.id;
      globalModelDir = previous.modelDir;
      stored = previous.options as unknown as StoredOptions;
      createdAt = previous.createdAt;
    } else {
      if (!options.modelDir) throw new UserError("No model given.", { code: "TRAIN_NO_MODEL", hint: "Pass --model <dir> (a tfjs model folder)." });
      if (!options.dataPath) throw new UserError("No data given.", { code: "TRAIN_NO_DATA", hint: "Pass --data <path>." });
      id = newRunId();
      globalModelDir = path.resolve(options.modelDir);
      stored = {
        dataPath: path.resolve(options.dataPath),
        labelColumn: options.labelColumn,
        normalize: options.normalize,
        preprocess: options.preprocess,
        epochs: options.epochs ?? 1,
        batchSize: options.batchSize ?? 32,
        lr: options.lr ?? 0.01,
        optimizer: options.optimizer ?? "sgd",
        mu: options.mu ?? 0,
        valSplit: options.valSplit ?? 0,
        seed: options.seed ?? 1,
      };
    }

    const backend = await resolveBackend(options.backend ?? "auto", { allowSoftwareGpu: options.allowSoftwareGpu });
    // Read the files once: they build the model and, packed, give its hash.
    const modelFiles = await readModelFiles(globalModelDir);
    const model = await modelFromFiles(modelFiles, path.join(globalModelDir, "model.json"));
    if (stored.preprocess && stored.normalize !== undefined && stored.normalize !== "none") {
      throw new UserError(`normalize ${stored.normalize} and the job's preprocessing cannot both apply.`, { code: "TRAIN_NORMALIZE_CONFLICT" });
    }
    // The worker threads start on other cores while this one reads the data.
    await prewarmTraining(model, { threads: options.threads, epochs: stored.epochs });
    const loaded = await openDataSource(stored.dataPath, {
      labelColumn: stored.labelColumn,
      normalize: stored.normalize,
      inputShape: describeModel(model).inputShape,
    });
    checkDataFitsModel(model, loaded, path.join(globalModelDir, "model.json"));
    const data = stored.preprocess ? preprocessedSource(loaded, stored.preprocess) : loaded;
    const modelHash = crypto.createHash("sha256").update(packModelFiles(modelFiles)).digest("hex");

    const runDir = path.join(options.home, "runs", id);
    const checkpointDir = path.join(runDir, "checkpoint");
    await fs.promises.mkdir(checkpointDir, { recursive: true });
    const row = {
      id, jobId, modelDir: globalModelDir, modelHash, runDir, deltaPath: null as string | null, backend: backend.name,
      sampleCount: 0, status: "running" as const, metrics: {}, options: stored as unknown as Record<string, unknown>, createdAt,
    };
    upsertTrainingRun(db, row);

    const counts = splitCounts(data.size, stored.seed, stored.valSplit);
    options.onStart?.({
      id, backend: backend.name, warnings: backend.warnings, sampleCount: counts.train, valCount: counts.val,
      epochs: stored.epochs, batchesPerEpoch: Math.ceil(counts.train / stored.batchSize),
    });
    const result = await trainLocal({
      model, data, epochs: stored.epochs, batchSize: stored.batchSize, lr: stored.lr, optimizer: stored.optimizer, mu: stored.mu,
      seed: stored.seed, valSplit: stored.valSplit, signal: options.signal, checkpointDir, resume: options.resume,
      onEpoch: options.onEpoch, onBatch: options.onBatch, threads: options.threads,
    }).catch((error: unknown) => {
      // A lost WebGPU device surfaces as an opaque mapAsync failure: name the cause and the fix.
      throw webgpuFailure(error) ?? error;
    });

    const trainedDir = path.join(runDir, "model");
    await saveModelDir(model, trainedDir);
    const deltaPath = await writeDeltaFiles(runDir, result.delta);
    const metricsOut = { ...result.metrics, sampleCount: result.sampleCount, valCount: result.valCount, epochsCompleted: result.epochsCompleted };
    await fs.promises.writeFile(path.join(runDir, "metrics.json"), JSON.stringify(metricsOut, null, 1));
    upsertTrainingRun(db, {
      ...row,
      deltaPath,
      sampleCount: result.sampleCount,
      status: result.stopped ? "stopped" : "completed",
      metrics: metricsOut,
    });
    model.dispose();
    return {
      id, jobId, runDir, modelDir: trainedDir, deltaPath, globalModelDir, modelHash, backend: backend.name, threads: result.step.threads, warnings: backend.warnings,
      sampleCount: result.sampleCount, valCount: result.valCount, epochsCompleted: result.epochsCompleted, stopped: result.stopped,
      metrics: result.metrics, weights: result.weights, delta: result.delta,
    };
  } finally {
    db.close();
  }
}
