/**
 * Compiles src/chain/contracts/*.sol with solc-js and writes the committed artifacts
 * src/chain/artifacts/<Name>.ts (`as const`, so viem infers argument and return types) and
 * src/chain/artifacts/index.ts with the hash of the sources they were built from.
 *
 *   npm run contracts            write the artifacts
 *   npm run contracts -- --check exit 1 when the committed artifacts do not match the sources
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { compileContracts, renderArtifacts } from "./contracts-lib.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const check = process.argv.includes("--check");
const { files, sourcesHash } = renderArtifacts(compileContracts(root));
const dir = path.join(root, "src/chain/artifacts");
let stale = 0;
for (const [name, text] of Object.entries(files)) {
  const target = path.join(dir, name);
  const current = fs.existsSync(target) ? fs.readFileSync(target, "utf8") : undefined;
  if (current === text) continue;
  stale += 1;
  if (check) {
    process.stderr.write(`stale: src/chain/artifacts/${name}\n`);
  } else {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(target, text);
  }
}
process.stderr.write(`${check ? "checked" : "wrote"} ${Object.keys(files).length} artifacts (sources ${sourcesHash.slice(0, 12)}…), ${stale} changed\n`);
if (check && stale > 0) process.exit(1);
