/**
 * The checkpoint of a stopped or finished epoch: the model, the optimizer's slots (adam's moments
 * and step count, so a resumed run takes the steps it would have taken), and where training was.
 */
import fs from "node:fs";
import path from "node:path";
import type * as tf from "@tensorflow/tfjs";
import type { EpochMetrics } from "./metrics.js";
import { getWeightTensors, loadModelDir, saveModelDir, type WeightTensor } from "./modelIo.js";
import type { OptimizerKind } from "./optimizer.js";

export interface CheckpointState {
  version: 1;
  /** The optimizer's slots (adam's moments, the iteration count), stored in optimizer.bin in this order. */
  optimizer?: { kind: OptimizerKind; tensors: { name: string; shape: number[] }[] };
  epoch: number;
  batch: number;
  seed: number;
  epochs: EpochMetrics[];
}

export interface Checkpoint {
  state: CheckpointState;
  weights: WeightTensor[];
  /** The optimizer's slots, when the checkpoint holds them whole. */
  optimizerSlots?: { name: string; shape: number[]; data: Float32Array }[];
}

/** The checkpoint in `dir`, or undefined when there is none. */
export async function readCheckpoint(dir: string): Promise<Checkpoint | undefined> {
  const statePath = path.join(dir, "state.json");
  if (!fs.existsSync(statePath)) return undefined;
  const state = JSON.parse(await fs.promises.readFile(statePath, "utf8")) as CheckpointState;
  const model = await loadModelDir(path.join(dir, "model"));
  const weights = await getWeightTensors(model);
  model.dispose();
  const checkpoint: Checkpoint = { state, weights };
  const slotsPath = path.join(dir, "optimizer.bin");
  if (state.optimizer && fs.existsSync(slotsPath)) {
    const bytes = await fs.promises.readFile(slotsPath);
    const floats = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength - (bytes.byteLength % 4)));
    const sizes = state.optimizer.tensors.map((t) => t.shape.reduce((a, b) => a * b, 1));
    // A slot file that does not match its manifest is ignored: training resumes with fresh slots.
    if (sizes.reduce((a, b) => a + b, 0) === floats.length) {
      let at = 0;
      checkpoint.optimizerSlots = state.optimizer.tensors.map((t, i) => {
        const data = floats.slice(at, at + sizes[i]);
        at += sizes[i];
        return { name: t.name, shape: t.shape, data };
      });
    }
  }
  return checkpoint;
}

/** Write a checkpoint; state.json is replaced last and atomically, so a crash leaves the previous one whole. */
export async function writeCheckpoint(dir: string, model: tf.LayersModel, state: CheckpointState, optimizer: tf.Optimizer, kind: OptimizerKind): Promise<void> {
  await saveModelDir(model, path.join(dir, "model"));
  const slots = await optimizer.getWeights();
  const manifest: { name: string; shape: number[] }[] = [];
  const parts: Float32Array[] = [];
  for (const slot of slots) {
    manifest.push({ name: slot.name, shape: [...slot.tensor.shape] });
    parts.push(Float32Array.from(await slot.tensor.data()));
  }
  const all = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  await fs.promises.writeFile(path.join(dir, "optimizer.bin"), new Uint8Array(all.buffer));
  state.optimizer = { kind, tensors: manifest };
  const statePath = path.join(dir, "state.json");
  await fs.promises.writeFile(statePath + ".tmp", JSON.stringify(state));
  await fs.promises.rename(statePath + ".tmp", statePath);
}
