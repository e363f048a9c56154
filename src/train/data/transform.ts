/**
 * The job's preprocessing applied to a data source: every sample a loader yields goes through
 * the same `applyPreprocess` that contributor training, the operator's validation, `dat infer` and
 * `dat model eval --job` run, so one row means the same input everywhere.
 */
import { applyPreprocess, validatePreprocessSpec, type PreprocessSpec } from "../../core/preprocess.js";
import { UserError } from "../../core/errors.js";
import { featureSize, type DataSource, type Sample } from "./source.js";

/**
 * Wraps `source` so each sample's features are a preprocessed copy (the source's buffers are
 * never changed). The spec is checked against the source's feature count first.
 * @throws UserError PREPROCESS_STATS_MISMATCH naming the file; PREPROCESS_NOT_FINITE naming the
 *         file and sample (1-based, in storage order) while reading.
 */
export function preprocessedSource(source: DataSource, spec: PreprocessSpec): DataSource {
  const features = featureSize(source.featureShape);
  validatePreprocessSpec(spec, spec.kind === "minmax" || spec.kind === "zscore" ? features : undefined, `the job's preprocessing for ${source.name}`);
  if (spec.kind === "none") return source;
  const transform = (sample: Sample, index: number): Sample => {
    try {
      return { x: applyPreprocess(spec, Float32Array.from(sample.x)), y: sample.y };
    } catch (error) {
      if (error instanceof UserError) {
        throw new UserError(`${source.name}, sample ${index + 1}: ${error.message}`, { code: error.code, hint: error.hint, data: { file: source.name, sample: index + 1 } });
      }
      throw error;
    }
  };
  const get = source.get;
  return {
    ...source,
    get: get ? (i: number) => transform(get(i), i) : undefined,
    async *read() {
      let i = 0;
      for await (const sample of source.read()) yield transform(sample, i++);
    },
  };
}

/** A transform for `ModelEvalOptions.transform` and the inference path: in place, one or more rows. */
export function preprocessTransform(spec: PreprocessSpec | null | undefined): ((x: Float32Array) => void) | undefined {
  if (!spec || spec.kind === "none") return undefined;
  return (x) => {
    applyPreprocess(spec, x);
  };
}
