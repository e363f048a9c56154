/** Differential privacy for deltas (DP-FedAvg): clipping, Gaussian noise and an RDP accountant. */
export { clipToNorm, l2Norm, type ClipResult } from "./clip.js";
export { addGaussianNoise, seededRandom, secureRandom, type UniformRandom } from "./noise.js";
export { computeEpsilon, rdpSampledGaussian, rdpToEpsilon, RdpAccountant, DEFAULT_ORDERS, type PrivacySpent, type SampledGaussianParams } from "./rdp.js";
export { privatizeDelta, type PrivatizeOptions, type PrivatizeResult } from "./privatize.js";
export {
  DEFAULT_RELATION,
  epsilonForMu,
  gaussianDelta,
  gaussianMu,
  localDpEpsilon,
  normalCdf,
  sensitivityFactor,
  type LocalDpParams,
  type LocalDpSpent,
  type NeighbouringRelation,
} from "./localDp.js";
export { coarsenSampleCount, type CoarsenOptions } from "./coarsenSampleCount.js";
export { canonicalJson, saltedMetricsHash, type MetricsValue } from "./saltedMetricsHash.js";
export { privacySpent, PRIVACY_DELTA, PRIVACY_SAMPLE_RATE, type PrivacyReport } from "./spent.js";
