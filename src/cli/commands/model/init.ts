/** `dat model init <dir>`: build a template classifier (given or inferred from a data file) and save it as a tfjs folder. */
import fs from "node:fs";
import path from "node:path";
import type { CliContext } from "../../context.js";
import { UsageError, UserError } from "../../../core/errors.js";

export interface ModelInitCommandOptions {
  template?: string;
  inputs?: string;
  classes?: string;
  hidden?: string;
  seed?: string;
  fromData?: string;
  labelColumn?: string;
  force?: boolean;
}

export interface ModelInitResult {
  dir: string;
  template: string;
  inputs: number[];
  classes: number;
  params: number;
  hidden: number[];
  seed: number;
  /** The data file the shape was read from, with --from-data. */
  fromData?: string;
}

export async function modelInit(ctx: CliContext, dir: string, opts: ModelInitCommandOptions): Promise<void> {
  const templates = await import("../../../train/modelTemplates.js");
  if (opts.fromData !== undefined && (opts.inputs !== undefined || opts.classes !== undefined)) {
    throw new UsageError("--from-data reads the input shape and classes from the data: drop --inputs/--classes, or drop --from-data.", { code: "USAGE" });
  }
  if (opts.fromData === undefined && (opts.inputs === undefined || opts.classes === undefined)) {
    throw new UsageError("Pass --inputs <shape> and --classes <k>, or --from-data <file>.", {
      code: "USAGE",
      hint: "e.g. dat model init ./model --inputs 64 --classes 10, or dat model init ./model --from-data train.csv --label-column label",
    });
  }
  if (opts.labelColumn !== undefined && opts.fromData === undefined) throw new UsageError("--label-column only applies with --from-data.", { code: "USAGE" });
  if (opts.template !== undefined && !(templates.TEMPLATE_NAMES as readonly string[]).includes(opts.template)) {
    throw new UsageError(`Unknown --template "${opts.template}".`, { code: "MODEL_TEMPLATE_ARG", hint: `Use one of: ${templates.TEMPLATE_NAMES.join(", ")}.` });
  }
  const seed = opts.seed === undefined ? 42 : Number(opts.seed);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new UsageError(`--seed "${opts.seed}" must be a non-negative whole number.`, { code: "USAGE" });
  const target = path.resolve(dir);
  if (fs.existsSync(path.join(target, "model.json")) && !opts.force) {
    throw new UserError(`${target} already holds a model.json.`, { code: "MODEL_EXISTS", hint: "Pick another folder, or pass --force to overwrite it." });
  }
  // Argument errors first, before a possibly long pass over the data.
  const hidden = opts.hidden === undefined ? undefined : templates.parseHidden(opts.hidden);
  let inputs: number[];
  let classes: number;
  let fromData: string | undefined;
  if (opts.fromData !== undefined) {
    const inferred = await templates.inferModelSpecFromData(opts.fromData, { labelColumn: opts.labelColumn });
    inputs = inferred.inputs;
    classes = inferred.classes;
    fromData = inferred.source;
    ctx.out.info(`${inferred.source}: ${inferred.samples} samples, input [${inputs.join("×")}], ${classes} classes`);
  } else {
    inputs = templates.parseInputShape(opts.inputs!);
    classes = templates.parseClasses(opts.classes!);
  }
  const template = (opts.template as "mlp" | "cnn" | undefined) ?? templates.defaultTemplateFor(inputs);
  // Building a model only creates its variables: the plain JS backend does that at once, on any machine.
  const { resolveBackend } = await import("../../../train/backends.js");
  await resolveBackend("cpu");
  const model = templates.buildTemplateModel({ template, inputs, classes, hidden, seed });
  const { saveModelDir } = await import("../../../train/modelIo.js");
  await saveModelDir(model, target);
  const result: ModelInitResult = {
    dir: target,
    template,
    inputs,
    classes,
    params: templates.countModelParams(model),
    hidden: hidden ?? [...templates.DEFAULT_HIDDEN[template]],
    seed,
  };
  if (fromData !== undefined) result.fromData = fromData;
  model.dispose();
  ctx.out.result(result, (r, c) => [
    c.green(`Wrote a ${r.template} model to ${r.dir}`),
    `inputs:  [${r.inputs.join("×")}]`,
    `classes: ${r.classes}`,
    `${r.template === "cnn" ? "filters" : "hidden"}: ${r.hidden.join(",") || "-"}`,
    `params:  ${r.params}`,
  ]);
}
