/**
 * Writes the fixture models into fixtures/<name>/ (model.json + weights.bin):
 * `npm run fixtures`. The files are committed; re-running gives the same bytes.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { FIXTURE_NAMES, buildFixtureModel } from "../src/train/modelSpecs.js";
import { saveModelDir } from "../src/train/modelIo.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
tf.env().set("PROD", true);
await tf.setBackend("cpu");
for (const name of FIXTURE_NAMES) {
  const model = buildFixtureModel(name);
  const files = await saveModelDir(model, path.join(root, "fixtures", name));
  process.stdout.write(`${name}: ${model.countParams()} parameters → ${files.map((f) => path.relative(root, f)).join(", ")}\n`);
  model.dispose();
}
