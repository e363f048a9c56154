/* global module */
/**
 * The layering of src/ (DESIGN.md, "Parts"), enforced by `npm run lint`:
 *
 *   cli → demo → server → contributor / orchestrator / inference → train / chain / store / db / crypto / config → core
 *
 * A folder may import its own layer's allowed neighbours and anything below, never above. Type-only
 * imports and lazy `await import()` count like any other import (tsPreCompilationDeps), because a
 * cycle or a climb hidden behind either is still one.
 */
const LAYERS = [
  ["core"],
  ["train", "chain", "store", "db", "crypto", "config"],
  ["contributor", "orchestrator", "inference"],
  ["server"],
  ["demo"],
  ["cli"],
];

const folders = (names) => `^src/(${names.join("|")})/`;

/** One rule per layer: nothing in it imports a folder of a higher layer. */
const upward = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `no-upward-from-${layer.join("-")}`,
  comment: `${layer.join(", ")} may not import ${LAYERS.slice(i + 1).flat().join(", ")}: dependencies point down only.`,
  severity: "error",
  from: { path: folders(layer) },
  to: { path: folders(LAYERS.slice(i + 1).flat()) },
}));

/**
 * Edges allowed between the libraries of one layer; every other import between two of them is an
 * error. config (home layout, settings) is the lowest: db and crypto store their files in the home,
 * chain records deployments in the config, settlement and local training runs are rows in the db,
 * and `dat init` (crypto/initHome.ts) creates the wallet and the database. Acyclic by construction:
 * config ← db ← {chain, train, crypto}; config ← {chain, crypto}.
 */
const LIBS = ["train", "chain", "store", "db", "crypto", "config"];
const LIB_EDGES = {
  train: ["db"],
  chain: ["config", "db"],
  store: [],
  db: ["config"],
  crypto: ["config", "db"],
  config: [],
};
const sameLayerLibs = LIBS.map((lib) => {
  const forbidden = LIBS.filter((other) => other !== lib && !LIB_EDGES[lib].includes(other));
  return {
    name: `lib-${lib}-neighbours`,
    comment: `${lib} may import only ${LIB_EDGES[lib].join(", ") || "no other library"} of its layer.`,
    severity: "error",
    from: { path: `^src/${lib}/` },
    to: { path: folders(forbidden) },
  };
}).filter((rule) => !rule.to.path.endsWith("()/"));

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "No file cycles, lazy and type-only imports included.",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
    ...upward,
    ...sameLayerLibs,
    {
      name: "core-is-pure",
      comment: "src/core imports nothing from src outside core.",
      severity: "error",
      from: { path: "^src/core/" },
      to: { path: "^src/", pathNot: "^src/core/" },
    },
    {
      name: "core-no-io",
      comment: "src/core does no I/O: no file system, network, processes or threads.",
      severity: "error",
      from: { path: "^src/core/" },
      to: {
        dependencyTypes: ["core"],
        path: "^(node:)?(fs|fs/promises|net|http|https|http2|dgram|tls|child_process|worker_threads|cluster|readline)$",
      },
    },
    {
      name: "inference-not-orchestrator",
      comment: "inference stands beside the orchestrator: it does not import it (the HTTP error codec lives in core).",
      severity: "error",
      from: { path: "^src/inference/" },
      to: { path: "^src/(orchestrator|contributor)/" },
    },
    {
      name: "orchestrator-not-contributor",
      comment: "The contributor side uses the orchestrator (types, client), never the other way round.",
      severity: "error",
      from: { path: "^src/orchestrator/" },
      to: { path: "^src/contributor/" },
    },
    {
      name: "orchestrator-inference-only-model-keys",
      comment: "The orchestrator uses inference only to store a gated round's model key; the server mounts the inference routes.",
      severity: "error",
      from: { path: "^src/orchestrator/" },
      to: { path: "^src/inference/", pathNot: "^src/inference/modelKeys\\.ts$" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      extensions: [".ts", ".js", ".json"],
      conditionNames: ["import", "require", "node", "default", "types"],
      exportsFields: ["exports"],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
