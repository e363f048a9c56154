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
  /** Where the largest label first appears, so a refusal can name the row. */
  maxLabelAt?: LabelAt;
  /** The first label that is not a class index (negative or fractional), and where. */
  nonClassLabelAt?: LabelAt;
  /** Samples in storage order. */
  read(): AsyncIterable<Sample>;
  /** Random access, when the data is in memory (enables full shuffles). */
  get?(index: number): Sample;
}

/** A label and where it is: the file holding it and its 1-based row. */
export interface LabelAt {
  file: string;
  /** 1-based sample row (a CSV's header excluded; an IDX labels file's record number). */
  row: number;
  /** 1-based line of a text file, when it differs from the row. */
  line?: number;
  value: number;
}

/** "data.csv, row 12 (line 13)": where a label is, for messages. */
export function describeLabelAt(at: LabelAt): string {
  return `${at.file}, row ${at.row}${at.line !== undefined && at.line !== at.row ? ` (line ${at.line})` : ""}`;
}

/**
 * The label facts a loader's validation pass collects (largest label, whether all are class
 * indices, where the first offenders are); `see` each label in file order.
 */
export function labelScan(file: string): {
  see(value: number, row: number, line?: number): void;
  facts(): Pick<DataSource, "maxLabel" | "integerLabels" | "maxLabelAt" | "nonClassLabelAt">;
} {
  let maxLabel = -Infinity;
  let maxLabelAt: LabelAt | undefined;
  let nonClassLabelAt: LabelAt | undefined;
  const at = (value: number, row: number, line?: number): LabelAt => ({ file, row, ...(line !== undefined ? { line } : {}), value });
  return {
    see(value, row, line) {
      if (value > maxLabel) {
        maxLabel = value;
        maxLabelAt = at(value, row, line);
      }
      if (nonClassLabelAt === undefined && !(Number.isInteger(value) && value >= 0)) nonClassLabelAt = at(value, row, line);
    },
    facts: () => ({
      maxLabel,
      integerLabels: nonClassLabelAt === undefined,
      ...(maxLabelAt ? { maxLabelAt } : {}),
      ...(nonClassLabelAt ? { nonClassLabelAt } : {}),
    }),
  };
}

export function featureSize(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A data set held in memory (synthetic data, tests, partitions). */
export function arraySource(name: string, x: Float32Array, y: ArrayLike<number>, featureShape: number[]): DataSource {
  const size = featureSize(featureShape);
  const count = y.length;
  if (x.length !== count * size) throw new Error(`arraySource ${name}: ${x.length} features for ${count} samples of ${size}`);
  const labels = labelScan(name);
  for (let i = 0; i < count; i++) labels.see(y[i], i + 1);
  const get = (i: number): Sample => ({ x: x.subarray(i * size, (i + 1) * size), y: y[i] });
  return {
    name,
    featureShape,
    size: count,
    ...labels.facts(),
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
