/**
 * `npm run gpu-kit`: builds the offline GPU check kit in .gpu-kit/ (gitignored), for a lent GPU
 * machine with no network that receives at most 64 MiB. The kit holds an esbuild bundle of the
 * training path and its runner, the `webgpu` (Dawn) native module gzip-compressed, the wasm
 * binaries, the fixture CNN, the Vulkan loader and glvnd .debs (libvulkan1, libglvnd0, libglx0, libegl1: NVIDIA's Vulkan driver needs glvnd and libEGL), and — unless --no-node — this
 * machine's node binary gzip-compressed, for machines without Node ≥ 20. `sh .gpu-kit/run.sh`
 * runs it; it needs only sh, and node or gzip.
 *
 * Flags: --out <dir> (default .gpu-kit), --no-node (leave node out: smaller, for tests), --no-deb
 * (leave the Vulkan loader out when apt-get cannot download it), --no-dawn (leave Dawn and the
 * Vulkan .debs out: a CPU-only kit), --no-cli (leave out dat.mjs, the whole CLI bundled, gzip-
 * compressed, with better-sqlite3's native module, which `run.sh --cli-threads` runs), --with-learning (add the learning benchmark as learning.mjs
 * and a Fashion-MNIST subset: the first LEARNING_TRAIN_IMAGES training images and the whole test
 * set; `sh run.sh --learning <flags>`).
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const MAX_KIT_BYTES = 60 * 1024 * 1024;
const FASHION = "/usr/share/datasets/fashion-mnist";
/** Training images the learning kit carries (the whole set would push the kit past its limit). */
const LEARNING_TRAIN_IMAGES = 20_000;

/**
 * The first `count` items of a gzipped IDX file, as a gzipped IDX file (same magic, the first
 * dimension rewritten; IDX stores dimensions as big-endian uint32 after a 4-byte magic).
 */
function idxHead(from: string, to: string, count: number): void {
  const raw = zlib.gunzipSync(fs.readFileSync(from));
  const dims = raw[3];
  const shape = Array.from({ length: dims }, (_, i) => raw.readUInt32BE(4 + 4 * i));
  const n = Math.min(count, shape[0]);
  const itemBytes = shape.slice(1).reduce((a, b) => a * b, 1);
  const header = Buffer.from(raw.subarray(0, 4 + 4 * dims));
  header.writeUInt32BE(n, 4);
  const body = raw.subarray(header.length, header.length + n * itemBytes);
  fs.writeFileSync(to, zlib.gzipSync(Buffer.concat([header, body]), { level: 9 }));
}

function gzipFile(from: string, to: string): void {
  fs.writeFileSync(to, zlib.gzipSync(fs.readFileSync(from), { level: 9 }));
}

function sizeOf(dir: string): number {
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true }).reduce((sum, e) => (e.isFile() ? sum + fs.statSync(path.join(e.parentPath, e.name)).size : sum), 0);
}

/** One ES module of `entry` and what it imports (Dawn's and tfjs-node's native modules stay outside). */
async function bundle(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // better-sqlite3 is a native module (copied beside); hardhat only serves `dat demo`/devnets (not in the kit).
    external: ["webgpu", "@tensorflow/tfjs-node", "@tensorflow/tfjs-node-gpu", "better-sqlite3", "hardhat"],
    // Bundled CommonJS (tfjs, the wasm backend's Emscripten glue) uses require and __dirname.
    banner: {
      js: [
        "import { createRequire as __kitRequire } from 'node:module';",
        "import { fileURLToPath as __kitPath } from 'node:url';",
        "const require = __kitRequire(import.meta.url);",
        "const __filename = __kitPath(import.meta.url);",
        "const __dirname = __kitPath(new URL('.', import.meta.url));",
      ].join(" "),
    },
    logLevel: "warning",
    minify: true,
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const outArg = args.indexOf("--out");
  const out = path.resolve(outArg >= 0 ? args[outArg + 1] : path.join(root, ".gpu-kit"));
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  const modules = path.join(root, "node_modules");

  // 1. The training path and the runner, one ES module; Dawn's native module stays outside. The
  // parallel step's worker entry is a second bundle, worker.js beside the runner, where pool.ts
  // looks for it (the kit's package.json makes .js files ES modules).
  const withLearning = args.includes("--with-learning");
  const entries = [["scripts/gpu-kit-runner.ts", "runner.mjs"], ["src/train/parallel/worker.ts", "worker.js"]];
  if (withLearning) entries.push(["scripts/learning-kit-runner.ts", "learning.mjs"]);
  const withCli = !args.includes("--no-cli");
  if (withCli) entries.push(["src/cli/main.ts", "dat.mjs"]);
  for (const [entry, outfile] of entries) {
    await bundle(path.join(root, entry), path.join(out, outfile));
  }
  if (withCli) {
    // The CLI travels gzip-compressed (7.5 → 2 MiB); the runner unpacks it, and better-sqlite3's
    // native module, beside itself. better-sqlite3 loads its .node through `bindings`.
    gzipFile(path.join(out, "dat.mjs"), path.join(out, "dat.mjs.gz"));
    fs.rmSync(path.join(out, "dat.mjs"));
    const sqlite = path.join(out, "node_modules", "better-sqlite3");
    fs.mkdirSync(path.join(sqlite, "build", "Release"), { recursive: true });
    fs.copyFileSync(path.join(modules, "better-sqlite3/package.json"), path.join(sqlite, "package.json"));
    fs.cpSync(path.join(modules, "better-sqlite3/lib"), path.join(sqlite, "lib"), { recursive: true });
    gzipFile(path.join(modules, "better-sqlite3/build/Release/better_sqlite3.node"), path.join(sqlite, "build", "Release", "better_sqlite3.node.gz"));
    for (const dep of ["bindings", "file-uri-to-path"]) fs.cpSync(path.join(modules, dep), path.join(out, "node_modules", dep), { recursive: true });
  }
  fs.writeFileSync(path.join(out, "package.json"), JSON.stringify({ private: true, type: "module" }) + "\n");

  // 2. Packages backends.ts resolves at run time (package.json checks, wasm files, Dawn).
  const wasmDir = path.join(out, "node_modules", "@tensorflow", "tfjs-backend-wasm");
  fs.mkdirSync(path.join(wasmDir, "dist"), { recursive: true });
  fs.copyFileSync(path.join(modules, "@tensorflow/tfjs-backend-wasm/package.json"), path.join(wasmDir, "package.json"));
  for (const f of fs.readdirSync(path.join(modules, "@tensorflow/tfjs-backend-wasm/dist")).filter((f) => f.endsWith(".wasm"))) {
    fs.copyFileSync(path.join(modules, "@tensorflow/tfjs-backend-wasm/dist", f), path.join(wasmDir, "dist", f));
  }
  const webgpuBackendDir = path.join(out, "node_modules", "@tensorflow", "tfjs-backend-webgpu");
  fs.mkdirSync(webgpuBackendDir, { recursive: true });
  fs.copyFileSync(path.join(modules, "@tensorflow/tfjs-backend-webgpu/package.json"), path.join(webgpuBackendDir, "package.json"));
  const noDawn = args.includes("--no-dawn");
  if (!noDawn) {
    const dawnDir = path.join(out, "node_modules", "webgpu");
    fs.mkdirSync(path.join(dawnDir, "dist", "linux-x64"), { recursive: true });
    for (const f of ["package.json", "index.js", "LICENSE.md"]) fs.copyFileSync(path.join(modules, "webgpu", f), path.join(dawnDir, f));
    gzipFile(path.join(modules, "webgpu/dist/linux-x64/dawn.node"), path.join(dawnDir, "dist", "linux-x64", "dawn.node.gz"));
  }
  if (withLearning) {
    const data = path.join(out, "data", "fashion-mnist");
    fs.mkdirSync(data, { recursive: true });
    idxHead(path.join(FASHION, "train-images-idx3-ubyte.gz"), path.join(data, "train-images-idx3-ubyte.gz"), LEARNING_TRAIN_IMAGES);
    idxHead(path.join(FASHION, "train-labels-idx1-ubyte.gz"), path.join(data, "train-labels-idx1-ubyte.gz"), LEARNING_TRAIN_IMAGES);
    for (const f of ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]) fs.copyFileSync(path.join(FASHION, f), path.join(data, f));
  }

  // 3. Fixtures, the Vulkan loader, node.
  fs.cpSync(path.join(root, "fixtures", "cnn-digits"), path.join(out, "fixtures", "cnn-digits"), { recursive: true });
  if (!args.includes("--no-deb") && !noDawn) {
    execFileSync("apt-get", ["download", "libvulkan1", "libglvnd0", "libglx0", "libegl1"], { cwd: out, stdio: ["ignore", "ignore", "inherit"] });
  }
  if (!args.includes("--no-node")) gzipFile(process.execPath, path.join(out, "node.gz"));
  fs.copyFileSync(path.join(root, "scripts", "gpu-kit-run.sh"), path.join(out, "run.sh"));
  fs.chmodSync(path.join(out, "run.sh"), 0o755);

  const bytes = sizeOf(out);
  const mib = (bytes / 1024 / 1024).toFixed(1);
  if (bytes > MAX_KIT_BYTES) throw new Error(`the kit is ${mib} MiB, over the 60 MiB limit`);
  process.stdout.write(`gpu kit: ${out} (${mib} MiB)\nrun it: sh ${path.relative(process.cwd(), out) || "."}/run.sh [--allow-software-gpu] [--quick] [--threads-only] [--cli-threads]\n`);
  process.stdout.write(JSON.stringify({ kit: out, bytes }) + "\n");
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
