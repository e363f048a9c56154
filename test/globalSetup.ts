/**
 * Builds dist/ once before the suite: the end-to-end tests run the real CLI (`node bin/dat.js`),
 * which imports the built files. A failed build stops the suite with tsc's output.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc");
  const result = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: root, encoding: "utf8" });
  if (result.status !== 0) {
    throw new Error(`Building dist/ failed (npx tsc -p tsconfig.build.json):\n${result.stdout}${result.stderr}${result.error ?? ""}`);
  }
}
