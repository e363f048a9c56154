/**
 * The job's validation set: a data file on the orchestrator's machine (any format the training
 * loaders read: CSV with a label column, JSONL, IDX, PNG folders), opened for the model's input and
 * passed through the job's preprocessing, the same transform contributors train with.
 */
import type * as tf from "@tensorflow/tfjs";
import type { PreprocessSpec } from "../core/preprocess.js";
import type { DataSource } from "../train/data/source.js";

/**
 * Opens a validation file as a DataSource that fits `model`'s input, preprocessed as the job says.
 * @throws UserError DATA_MODEL_MISMATCH / DATA_LABEL_RANGE when the file does not fit the model.
 */
export async function openValidationSource(file: string, labelColumn: string, model: tf.LayersModel, preprocess?: PreprocessSpec | null): Promise<DataSource> {
  const [{ openDataSource }, { preprocessedSource }, { checkDataFitsModel, describeModel }] = await Promise.all([
    import("../train/data/open.js"),
    import("../train/data/transform.js"),
    import("../train/modelShape.js"),
  ]);
  const source = await openDataSource(file, { labelColumn, inputShape: describeModel(model).inputShape });
  checkDataFitsModel(model, source, "the job's model");
  return preprocess ? preprocessedSource(source, preprocess) : source;
}
