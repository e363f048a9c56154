/** `dat model eval`: accuracy, loss and per-class precision / recall of a model over a labelled data file. */
import path from "node:path";
import type { CliContext } from "../../context.js";
import { UsageError } from "../../../core/errors.js";
import { parseJobId } from "../job/show.js";
import { formatPercent } from "../../format.js";
import type { ModelEvalResult } from "../../../train/modelEval.js";
import type { PreprocessSpec } from "../../../core/preprocess.js";

export interface ModelEvalCommandOptions {
  model?: string;
  job?: string;
  data: string;
  labelColumn?: string;
  normalize?: string;
  batchSize?: string;
  /** Include every row's predicted class (`predictions`) in the result. */
  rows?: boolean;
}

export interface ModelEvalCommandResult extends ModelEvalResult {
  model: string;
  /** The pulled model's CID, with --job. */
  cid?: string;
  jobId?: number;
  data: string;
  normalize: string;
}

const NORMALIZE_MODES = ["none", "minmax", "zscore"] as const;

function pct(value: number | null): string {
  return formatPercent(value);
}

export async function modelEval(ctx: CliContext, opts: ModelEvalCommandOptions): Promise<void> {
  if ((opts.model === undefined) === (opts.job === undefined)) {
    throw new UsageError("Pass exactly one of --model <dir> and --job <id>.", { code: "USAGE", hint: "e.g. dat model eval --model ./model --data test.csv" });
  }
  if (opts.job !== undefined && opts.normalize !== undefined) {
    throw new UsageError("--normalize applies to --model only: with --job the job's own preprocessing (and statistics) is applied.", { code: "USAGE" });
  }
  const normalize = opts.normalize ?? "none";
  // scale:<k> divides every feature by k (e.g. scale:16 maps pixels 0..16 to 0..1); the others are the CSV loader's own.
  const scaleMatch = /^scale:(.+)$/.exec(normalize);
  const scale = scaleMatch ? Number(scaleMatch[1]) : undefined;
  if (scale !== undefined && !(Number.isFinite(scale) && scale > 0)) {
    throw new UsageError(`--normalize "${normalize}": the scale must be a positive number.`, { code: "USAGE", hint: "e.g. --normalize scale:255" });
  }
  if (scale === undefined && !(NORMALIZE_MODES as readonly string[]).includes(normalize)) {
    throw new UsageError(`--normalize "${normalize}" is not one of ${NORMALIZE_MODES.join(", ")} or scale:<k>.`, { code: "USAGE" });
  }
  const batchSize = opts.batchSize === undefined ? 256 : Number(opts.batchSize);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new UsageError(`--batch-size "${opts.batchSize}" must be a positive whole number.`, { code: "USAGE" });
  const jobId = opts.job === undefined ? undefined : parseJobId(opts.job, "--job");

  let modelDir: string;
  let modelName: string;
  let cid: string | undefined;
  let jobPreprocess: PreprocessSpec | undefined;
  if (jobId !== undefined) {
    // The same pull (and CID check) as `dat model pull`; the model lands in the local model cache.
    const { openOrchestrator } = await import("../../orchestrator.js");
    const { pullJobModel } = await import("../../../contributor/pull.js");
    const { walletModelAuth } = await import("./pull.js");
    const orch = await openOrchestrator(ctx);
    const pulled = await pullJobModel(orch, ctx.home, jobId, walletModelAuth(ctx))
      .then(async (p) => {
        jobPreprocess = (await orch.getJob(jobId)).preprocess;
        return p;
      })
      .finally(() => orch.close());
    modelDir = pulled.dir;
    cid = pulled.cid;
    modelName = `job ${jobId}'s global model (${pulled.cid})`;
  } else {
    modelDir = path.resolve(opts.model!);
    modelName = path.join(modelDir, "model.json");
  }
  const [{ resolveBackend }, { loadModelDir }, { describeModel }, { openDataSource }, { evaluateClassifier }] = await Promise.all([
    import("../../../train/backends.js"),
    import("../../../train/modelIo.js"),
    import("../../../train/trainLocal.js"),
    import("../../../train/data/open.js"),
    import("../../../train/modelEval.js"),
  ]);
  await resolveBackend("auto");
  const model = await loadModelDir(modelDir);
  const data = await openDataSource(opts.data, {
    labelColumn: opts.labelColumn,
    normalize: scale === undefined ? (normalize as (typeof NORMALIZE_MODES)[number]) : "none",
    inputShape: describeModel(model).inputShape,
  });
  const { preprocessTransform } = await import("../../../train/data/transform.js");
  // --job: the job's spec, the transform its contributors trained with; --model: --normalize.
  const transform = jobPreprocess ? preprocessTransform(jobPreprocess) : scale === undefined ? undefined : (x: Float32Array): void => {
    for (let i = 0; i < x.length; i++) x[i] /= scale;
  };
  const metrics = await evaluateClassifier(model, data, { batchSize, modelName, transform, rows: opts.rows });
  model.dispose();
  const { describePreprocess } = await import("../../../core/preprocess.js");
  const result: ModelEvalCommandResult = {
    model: modelDir, ...(cid ? { cid, jobId } : {}), data: data.name, normalize: jobPreprocess ? describePreprocess(jobPreprocess) : normalize, ...metrics,
  };
  ctx.out.result(result, (r, c) => [
    c.bold(`accuracy ${pct(r.accuracy)}   loss ${r.loss.toFixed(4)}   ${r.count} samples`),
    `model: ${r.model}${r.cid ? ` (${r.cid})` : ""}`,
    `data:  ${r.data}${r.normalize !== "none" ? ` (normalize ${r.normalize})` : ""}`,
    "",
    "class  count  predicted  precision  recall",
    ...r.classes.map((k) =>
      [String(k.class).padStart(5), String(k.count).padStart(6), String(k.predicted).padStart(10), pct(k.precision).padStart(10), pct(k.recall).padStart(7)].join(" "),
    ),
    ...(r.predictions ? ["", `predictions: ${r.predictions.join(" ")}`] : []),
  ]);
}
