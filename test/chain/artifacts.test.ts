import path from "node:path";
import { fileURLToPath } from "node:url";
import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { compileContracts, hashSources, renderArtifacts } from "../../scripts/contracts-lib.js";
import { SOURCES_HASH } from "../../src/chain/artifacts/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

describe("committed contract artifacts", () => {
  it("were built from the current sources", () => {
    expect(SOURCES_HASH, "run `npm run contracts` after editing src/chain/contracts").toBe(hashSources(root));
  });

  // solc-js with viaIR compiles four contracts in about a minute alone, several on a shared machine.
  it("match a fresh compile byte for byte", { timeout: 400_000 }, () => {
    const { files } = renderArtifacts(compileContracts(root));
    for (const [name, text] of Object.entries(files)) {
      const committed = fs.readFileSync(path.join(root, "src/chain/artifacts", name), "utf8");
      expect(committed, `src/chain/artifacts/${name} is stale: run \`npm run contracts\``).toBe(text);
    }
  });
});
