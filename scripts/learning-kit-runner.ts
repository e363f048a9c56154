/**
 * The learning benchmark inside the offline kit (`npm run gpu-kit -- --with-learning` bundles this
 * file as learning.mjs): runs test/bench/learning.ts with the kit's own Fashion-MNIST subset
 * (data/fashion-mnist, written by gpu-kit.ts) so a lent machine with many cores and no network can
 * run several seeds or rows side by side: `sh run.sh --learning <learning flags>`.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import run from "../test/bench/learning.js";

const here = path.dirname(fileURLToPath(import.meta.url));
process.env.DAT_FASHION_DIR ??= path.join(here, "data", "fashion-mnist");
run(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
