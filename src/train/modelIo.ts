/**
 * Reading and writing tfjs Layers models (model.json + weights, the format tf.loadLayersModel
 * reads) with node:fs, packing a model into one blob, and flat access to its weights.
 */
import fs from "node:fs";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import "./quietTfjs.js";
import { MalformedInputError, NotFoundError, UserError } from "../core/errors.js";

/** One weight of a model, flattened. The list order is the model's own `model.weights` order. */
export interface WeightTensor {
  name: string;
  shape: number[];
  dtype: "float32";
  data: Float32Array;
}

const WEIGHTS_FILE = "weights.bin";
const PACK_MAGIC = "DATM";
const PACK_VERSION = 1;

function joinWeightData(data: tf.io.WeightData | undefined): ArrayBuffer {
  if (data === undefined) return new ArrayBuffer(0);
  return tf.io.CompositeArrayBuffer.join(data);
}

function modelJsonFor(artifacts: tf.io.ModelArtifacts, weightsPath: string): tf.io.ModelJSON {
  const json: tf.io.ModelJSON = {
    modelTopology: artifacts.modelTopology as object,
    format: artifacts.format ?? "layers-model",
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy ?? null,
    weightsManifest: [{ paths: [weightsPath], weights: artifacts.weightSpecs ?? [] }],
  };
  if (artifacts.trainingConfig) json.trainingConfig = artifacts.trainingConfig;
  if (artifacts.userDefinedMetadata) json.userDefinedMetadata = artifacts.userDefinedMetadata;
  return json;
}

/** The model.json document and the concatenated weight bytes, validated as a tfjs Layers model. */
export interface ModelFiles {
  json: tf.io.ModelJSON;
  weights: ArrayBuffer;
}

function parseModelJson(text: string, where: string): tf.io.ModelJSON {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new MalformedInputError(`${where} is not JSON: ${(error as Error).message}`, {
      code: "MODEL_NOT_TFJS",
      hint: "A model folder holds a tfjs Layers model.json (what model.save('file://…') writes) and its weight files.",
    });
  }
  const json = parsed as Partial<tf.io.ModelJSON> | null;
  if (!json || typeof json !== "object" || typeof json.modelTopology !== "object" || json.modelTopology === null) {
    throw new MalformedInputError(`${where} is not a tfjs Layers model: it has no "modelTopology" object.`, {
      code: "MODEL_NOT_TFJS",
      hint: "A model folder holds a tfjs Layers model.json (what model.save('file://…') writes) and its weight files.",
    });
  }
  const topology = json.modelTopology as { class_name?: unknown; model_config?: { class_name?: unknown } };
  if (typeof topology.class_name !== "string" && typeof topology.model_config?.class_name !== "string") {
    throw new MalformedInputError(`${where}: "modelTopology" has no class_name; is it a graph model? dat trains Layers models only.`, {
      code: "MODEL_NOT_TFJS",
    });
  }
  if (json.weightsManifest !== undefined && !Array.isArray(json.weightsManifest)) {
    throw new MalformedInputError(`${where}: "weightsManifest" must be a list.`, { code: "MODEL_NOT_TFJS" });
  }
  return json as tf.io.ModelJSON;
}

/** Read model.json and its weight files from a folder, without building the model. */
export async function readModelFiles(dir: string): Promise<ModelFiles> {
  const jsonPath = path.join(dir, "model.json");
  if (!fs.existsSync(dir)) throw new NotFoundError(`Model folder ${dir} does not exist.`, { code: "MODEL_NOT_FOUND" });
  if (!fs.existsSync(jsonPath)) {
    throw new MalformedInputError(`${jsonPath} does not exist: ${dir} is not a tfjs model folder.`, {
      code: "MODEL_NOT_TFJS",
      hint: "Pass the folder that holds model.json (e.g. fixtures/mlp-digits).",
    });
  }
  const json = parseModelJson(await fs.promises.readFile(jsonPath, "utf8"), jsonPath);
  const buffers: Buffer[] = [];
  for (const group of json.weightsManifest ?? []) {
    for (const rel of group.paths ?? []) {
      const file = path.resolve(dir, rel);
      if (path.relative(dir, file).startsWith("..")) {
        throw new MalformedInputError(`${jsonPath}: weight path "${rel}" leaves the model folder.`, { code: "MODEL_NOT_TFJS" });
      }
      if (!fs.existsSync(file)) {
        throw new MalformedInputError(`${jsonPath} names weight file "${rel}", which does not exist.`, { code: "MODEL_NOT_TFJS" });
      }
      buffers.push(await fs.promises.readFile(file));
    }
  }
  const total = Buffer.concat(buffers);
  const weights = total.buffer.slice(total.byteOffset, total.byteOffset + total.byteLength) as ArrayBuffer;
  return { json, weights };
}

/** Build the model that `files` hold; `where` names them in errors. */
export async function modelFromFiles(files: ModelFiles, where: string): Promise<tf.LayersModel> {
  const specs = (files.json.weightsManifest ?? []).flatMap((g) => g.weights);
  const expected = specs.reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1) * bytesPer(s.dtype), 0);
  if (expected !== files.weights.byteLength) {
    throw new MalformedInputError(`${where}: weight files hold ${files.weights.byteLength} bytes, the manifest needs ${expected}.`, {
      code: "MODEL_NOT_TFJS",
    });
  }
  const handler: tf.io.IOHandler = {
    load: async () => tf.io.getModelArtifactsForJSON(files.json, async () => [specs, files.weights]),
  };
  try {
    return await tf.loadLayersModel(handler);
  } catch (error) {
    throw new MalformedInputError(`${where} is not a loadable tfjs Layers model: ${(error as Error).message}`, {
      code: "MODEL_NOT_TFJS",
      cause: error,
    });
  }
}

function bytesPer(dtype: string): number {
  if (dtype === "float32" || dtype === "int32") return 4;
  if (dtype === "bool" || dtype === "uint8") return 1;
  if (dtype === "float16" || dtype === "int16") return 2;
  throw new MalformedInputError(`Unsupported weight dtype ${dtype}.`, { code: "MODEL_NOT_TFJS" });
}

/** Load a tfjs Layers model from a folder holding model.json and its weight files. */
export async function loadModelDir(dir: string): Promise<tf.LayersModel> {
  return modelFromFiles(await readModelFiles(dir), path.join(dir, "model.json"));
}

/** Save a model as model.json + weights.bin in `dir` (created if needed); returns the files written. */
export async function saveModelDir(model: tf.LayersModel, dir: string): Promise<string[]> {
  await fs.promises.mkdir(dir, { recursive: true });
  const written: string[] = [];
  await model.save({
    save: async (artifacts) => {
      const json = modelJsonFor(artifacts, WEIGHTS_FILE);
      const weights = Buffer.from(joinWeightData(artifacts.weightData));
      // Write to temporary names, then rename: a crash never leaves a half-written model.
      const jsonPath = path.join(dir, "model.json");
      const weightsPath = path.join(dir, WEIGHTS_FILE);
      await fs.promises.writeFile(weightsPath + ".tmp", weights);
      await fs.promises.writeFile(jsonPath + ".tmp", JSON.stringify(json));
      await fs.promises.rename(weightsPath + ".tmp", weightsPath);
      await fs.promises.rename(jsonPath + ".tmp", jsonPath);
      written.push(jsonPath, weightsPath);
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
  });
  return written;
}

/**
 * One blob: "DATM", u32 version, u32 JSON length, model.json (weights path "weights.bin"), weights.
 * Deterministic for a given model, so its hash identifies the model.
 */
export async function packModel(model: tf.LayersModel): Promise<Uint8Array> {
  let blob: Uint8Array | undefined;
  await model.save({
    save: async (artifacts) => {
      blob = packArtifacts(modelJsonFor(artifacts, WEIGHTS_FILE), joinWeightData(artifacts.weightData));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
  });
  if (!blob) throw new Error("model.save did not call the save handler");
  return blob;
}

/** Pack a model folder into one blob without building the model. */
export async function packModelDir(dir: string): Promise<Uint8Array> {
  return packModelFiles(await readModelFiles(dir));
}

/** Pack model files read by readModelFiles (the same blob packModelDir gives). */
export function packModelFiles(files: ModelFiles): Uint8Array {
  const specs = (files.json.weightsManifest ?? []).flatMap((g) => g.weights);
  const json: tf.io.ModelJSON = { ...files.json, weightsManifest: [{ paths: [WEIGHTS_FILE], weights: specs }] };
  return packArtifacts(json, files.weights);
}

function packArtifacts(json: tf.io.ModelJSON, weights: ArrayBuffer): Uint8Array {
  const jsonBytes = Buffer.from(JSON.stringify(json), "utf8");
  const out = new Uint8Array(12 + jsonBytes.length + weights.byteLength);
  const view = new DataView(out.buffer);
  out.set(Buffer.from(PACK_MAGIC, "ascii"), 0);
  view.setUint32(4, PACK_VERSION, true);
  view.setUint32(8, jsonBytes.length, true);
  out.set(jsonBytes, 12);
  out.set(new Uint8Array(weights), 12 + jsonBytes.length);
  return out;
}

/** Split a packed blob back into model.json and weights; throws MalformedInputError on bad bytes. */
export function unpackModelFiles(bytes: Uint8Array): ModelFiles {
  if (bytes.length < 12 || Buffer.from(bytes.subarray(0, 4)).toString("ascii") !== PACK_MAGIC) {
    throw new MalformedInputError("Model blob does not start with the DATM header.", { code: "MODEL_BLOB_MALFORMED" });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== PACK_VERSION) {
    throw new MalformedInputError(`Model blob version ${version} is not supported (expected ${PACK_VERSION}).`, { code: "MODEL_BLOB_MALFORMED" });
  }
  const jsonLength = view.getUint32(8, true);
  if (12 + jsonLength > bytes.length) {
    throw new MalformedInputError("Model blob is truncated.", { code: "MODEL_BLOB_MALFORMED" });
  }
  const json = parseModelJson(Buffer.from(bytes.subarray(12, 12 + jsonLength)).toString("utf8"), "model blob");
  const weights = bytes.slice(12 + jsonLength).buffer as ArrayBuffer;
  return { json, weights };
}

/** Build the model held in a blob made by packModel. */
export async function unpackModel(bytes: Uint8Array): Promise<tf.LayersModel> {
  return modelFromFiles(unpackModelFiles(bytes), "model blob");
}

/** Write a packed blob out as a model folder. */
export async function unpackModelToDir(bytes: Uint8Array, dir: string): Promise<void> {
  const files = unpackModelFiles(bytes);
  await fs.promises.mkdir(dir, { recursive: true });
  await fs.promises.writeFile(path.join(dir, WEIGHTS_FILE), Buffer.from(files.weights));
  await fs.promises.writeFile(path.join(dir, "model.json"), JSON.stringify(files.json));
}

/** The model's weights as flat float32 arrays, in `model.weights` order (stable across loads). */
export async function getWeightTensors(model: tf.LayersModel): Promise<WeightTensor[]> {
  // Read asynchronously: a WebGPU backend in Node cannot read GPU memory synchronously.
  return Promise.all(
    model.weights.map(async (w) => {
      const value = w.read();
      return {
        name: w.originalName,
        shape: [...value.shape],
        dtype: "float32" as const,
        data: Float32Array.from((await value.data()) as Float32Array),
      };
    }),
  );
}

/**
 * Overwrite the model's weights from a list made by getWeightTensors (same names, shapes, order).
 * Throws UserError naming the first weight that does not fit.
 */
export function setWeightTensors(model: tf.LayersModel, list: WeightTensor[]): void {
  const weights = model.weights;
  if (list.length !== weights.length) {
    throw new UserError(`Model has ${weights.length} weights, the list has ${list.length}.`, { code: "WEIGHTS_MISMATCH" });
  }
  weights.forEach((w, i) => {
    const item = list[i];
    const shape = w.shape as number[];
    const size = shape.reduce((a, b) => a * b, 1);
    if (item.name !== w.originalName || item.data.length !== size || item.shape.join(",") !== shape.join(",")) {
      throw new UserError(
        `Weight ${i} does not fit: model has ${w.originalName} [${shape.join(",")}], list has ${item.name} [${item.shape.join(",")}] (${item.data.length} values).`,
        { code: "WEIGHTS_MISMATCH" },
      );
    }
  });
  tf.tidy(() => {
    weights.forEach((w, i) => w.write(tf.tensor(list[i].data, w.shape as number[], "float32")));
  });
}

/** Total number of scalar weights. */
export function countParameters(list: WeightTensor[]): number {
  return list.reduce((sum, w) => sum + w.data.length, 0);
}
