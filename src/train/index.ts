/** The training engine's public surface (see each module for details). */
export { probeBackends, resolveBackend, BACKEND_NAMES, type BackendName, type BackendPreference, type BackendReport, type ResolvedBackend } from "./backends.js";
export { registerWasmTrainingKernels, WASM_TRAINING_KERNELS } from "./wasmKernels.js";
export {
  loadModelDir,
  saveModelDir,
  packModel,
  packModelDir,
  unpackModel,
  unpackModelFiles,
  unpackModelToDir,
  readModelFiles,
  getWeightTensors,
  setWeightTensors,
  countParameters,
  type WeightTensor,
} from "./modelIo.js";
export { buildFixtureModel, FIXTURE_NAMES, type FixtureName } from "./modelSpecs.js";
export { trainLocal, type TrainLocalOptions, type TrainResult } from "./trainLocal.js";
export { evaluate, type EvaluateResult } from "./evaluate.js";
export { describeModel, checkDataFitsModel } from "./modelShape.js";
export { splitCounts } from "./batches.js";
export type { TrainMetrics, EpochMetrics, BatchProgress } from "./metrics.js";
export { arraySource, subsetSource, materialize, type DataSource, type Sample } from "./data/source.js";
export { syntheticDigits, syntheticTabular } from "./data/synthetic.js";
export { partitionIndices, parsePartitionScheme, type PartitionScheme } from "./partition.js";
export { createRng, type Rng } from "./rng.js";
