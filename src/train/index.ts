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
export { trainLocal, evaluate, describeModel, checkDataFitsModel, splitCounts } from "./trainLocal.js";
export type { TrainLocalOptions, TrainResult, TrainMetrics, EpochMetrics, BatchProgress, EvaluateResult } from "./trainLocal.js";
export { arraySource, subsetSource, materialize, type DataSource, type Sample } from "./data/source.js";
export { syntheticDigits, syntheticTabular } from "./data/synthetic.js";
export { partitionIndices, parsePartitionScheme, type PartitionScheme } from "./partition.js";
export { createRng, type Rng } from "./rng.js";
