/** How the CLI shows the privacy a contributor has spent (dat train --job, dat push). */
import type { PrivacyReport } from "../core/privacy/spent.js";

/** One line saying the privacy spent, for the human renderers. */
export function privacyLines(p: PrivacyReport | null | undefined): string[] {
  if (!p) return [];
  const eps = p.epsilon === null ? "∞ (no noise: no DP guarantee)" : p.epsilon.toFixed(3);
  return [`privacy spent on this job: ε = ${eps} at δ = ${p.delta} over ${p.rounds} round(s) (σ = ${p.noiseMultiplier}·${p.clipNorm}, sampling rate ${p.sampleRate})`];
}
