/**
 * What a training data set looks like to the trainer: per-sample feature shape, a known size
 * (counted during the validation pass, before training starts) and a stream of samples, so a
 * data set larger than memory is never loaded whole.
 */
export interface Sample {
  x: Float32Array;
  /** Class index for classification, the target value for regression. */
  y: number;
}

export interface DataSource {
  /** File or description, for messages. */
  name: string;
  /** Shape of one sample's features (e.g. [784] for CSV, [28, 28, 1] for images). */
  featureShape: number[];
  /** Number of samples. */
  size: number;
  /** Largest label seen (classification), checked against the model's classes. */
  maxLabel: number;
  /** Whether every label is an integer (a class index). */
  integerLabels: boolean;
  /** Samples in storage order. */
  read(): AsyncIterable<Sample>;
  /** Random access, when the data is in memory (enables full shuffles). */
  get?(index: number): Sample;
}

export function featureSize(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A data set held in memory (synthetic data, tests, partitions). */
export function arraySource(name: string, x: Float32Array, y: ArrayLike<number>, featureShape: number[]): DataSource {
  const size = featureSize(featureShape);
  const count = y.length;
  if (x.length !== count * size) throw new Error(`arraySource ${name}: ${x.length} features for ${count} samples of ${size}`);
  let maxLabel = -Infinity;
  let integerLabels = true;
  for (let i = 0; i < count; i++) {
    maxLabel = Math.max(maxLabel, y[i]);
    if (!Number.isInteger(y[i])) integerLabels = false;
  }
  const get = (i: number): Sample => ({ x: x.subarray(i * size, (i + 1) * size), y: y[i] });
  return {
    name,
    featureShape,
    size: count,
    maxLabel,
    integerLabels,
    get,
    async *read() {
      for (let i = 0; i < count; i++) yield get(i);
    },
  };
}

/** Select samples of an in-memory source by index (used by the partitioner). */
export function subsetSource(source: DataSource, indices: ArrayLike<number>, name = source.name): DataSource {
  const get = source.get;
  if (!get) throw new Error("subsetSource needs an in-memory source");
  const size = featureSize(source.featureShape);
  const x = new Float32Array(indices.length * size);
  const y = new Float32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const s = get(indices[i]);
    x.set(s.x, i * size);
    y[i] = s.y;
  }
  return arraySource(name, x, y, source.featureShape);
}

/** Read a whole source into memory (small data only: evaluation sets, tests). */
export async function materialize(source: DataSource): Promise<{ x: Float32Array; y: Float32Array }> {
  const size = featureSize(source.featureShape);
  const x = new Float32Array(source.size * size);
  const y = new Float32Array(source.size);
  let i = 0;
  for await (const s of source.read()) {
    x.set(s.x, i * size);
    y[i] = s.y;
    i++;
  }
  return { x, y };
}
