/**
 * Which tfjs backend trains here. Auto picks the first that loads: tfjs-node-gpu on a visible CUDA
 * device → tfjs-node → wasm → plain JS cpu. A forced backend that cannot load fails with the
 * reason. GPU facts designed for: tfjs-node-gpu 4.22 is TensorFlow 2.9.1 for CUDA 11.2 / cuDNN 8.1,
 * so on CUDA 12+ it silently runs on the CPU after failing to load libcudart.so.11.0, and on GPUs
 * newer than its binaries (compute capability ≥ 9.0, Hopper) kernels are JIT-compiled at first use.
 */
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { UserError } from "../core/errors.js";
import { registerWasmTrainingKernels } from "./wasmKernels.js";

export type BackendName = "gpu" | "native" | "webgpu" | "wasm" | "cpu";
export type BackendPreference = "auto" | BackendName;
export const BACKEND_NAMES: readonly BackendName[] = ["gpu", "native", "webgpu", "wasm", "cpu"];

export interface BackendReport {
  name: BackendName;
  available: boolean;
  /** Why it is not available (missing package, library, device…). */
  reason?: string;
  /** Available, but with a caveat the user must know (e.g. it will JIT-compile for minutes). */
  warning?: string;
  /** What it is, when available (device name, threads). */
  detail?: string;
}

export interface ResolvedBackend {
  name: BackendName;
  /** The name tfjs knows it by ("tensorflow", "wasm", "cpu", "webgpu"). */
  tfjsName: string;
  warnings: string[];
  report: BackendReport;
}

const require = createRequire(import.meta.url);

let tfjsConfigured = false;
/** Quiet tfjs's Node nag and debug checks once per process. */
function configureTfjs(): void {
  if (tfjsConfigured) return;
  tfjsConfigured = true;
  // PROD turns off per-op NaN checks and the "install tfjs-node" console nag from the cpu backend.
  tf.env().set("PROD", true);
}

function packageInstalled(name: string): boolean {
  try {
    require.resolve(`${name}/package.json`);
    return true;
  } catch {
    return false;
  }
}

interface NvidiaGpu {
  name: string;
  computeCapability?: number;
  driver?: string;
}

/** GPUs that nvidia-smi lists; undefined when nvidia-smi is absent or fails. */
function listNvidiaGpus(): NvidiaGpu[] | undefined {
  try {
    const text = execFileSync("nvidia-smi", ["--query-gpu=name,compute_cap,driver_version", "--format=csv,noheader"], {
      encoding: "utf8",
      timeout: 10_000,
      stdio: ["ignore", "pipe", "ignore"],
    });
    return text
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean)
      .map((line) => {
        const [name, cc, driver] = line.split(",").map((s) => s.trim());
        const computeCapability = Number(cc);
        return { name, computeCapability: Number.isFinite(computeCapability) ? computeCapability : undefined, driver };
      });
  } catch {
    return undefined;
  }
}

/** Whether the dynamic loader can find a shared library (via ldconfig's cache or LD_LIBRARY_PATH). */
function sharedLibraryFound(soname: string, env: NodeJS.ProcessEnv = process.env): boolean {
  try {
    const cache = execFileSync("ldconfig", ["-p"], { encoding: "utf8", timeout: 10_000, stdio: ["ignore", "pipe", "ignore"] });
    if (cache.includes(soname)) return true;
  } catch {
    // no ldconfig: fall through to LD_LIBRARY_PATH
  }
  const fs = require("node:fs") as typeof import("node:fs");
  return (env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean).some((dir) => fs.existsSync(path.join(dir, soname)));
}

/** Pure diagnosis of the tfjs-node-gpu situation, from facts gathered elsewhere (testable). */
export function diagnoseGpu(facts: {
  packageInstalled: boolean;
  gpus: NvidiaGpu[] | undefined;
  cudart11: boolean;
  cudnn8: boolean;
}): { available: boolean; reason?: string; warning?: string; detail?: string } {
  if (!facts.packageInstalled) {
    return {
      available: false,
      reason: "@tensorflow/tfjs-node-gpu is not installed (optional dependency; its install downloads libtensorflow and may have failed)",
    };
  }
  if (facts.gpus === undefined) return { available: false, reason: "nvidia-smi not found or failed: no NVIDIA driver or no visible GPU" };
  if (facts.gpus.length === 0) return { available: false, reason: "nvidia-smi lists no GPU (check CUDA_VISIBLE_DEVICES)" };
  if (!facts.cudart11) {
    return {
      available: false,
      reason:
        "libcudart.so.11.0 not found: tfjs-node-gpu 4.22 is built for CUDA 11.2 / cuDNN 8.1 and silently falls back to CPU on CUDA 12+ systems",
    };
  }
  if (!facts.cudnn8) return { available: false, reason: "libcudnn.so.8 not found: tfjs-node-gpu 4.22 needs cuDNN 8.1" };
  const gpu = facts.gpus[0];
  const detail = `${gpu.name}${gpu.computeCapability ? ` (compute capability ${gpu.computeCapability})` : ""}`;
  if (gpu.computeCapability !== undefined && gpu.computeCapability >= 9.0) {
    return {
      available: true,
      detail,
      warning: `${gpu.name} is newer than tfjs-node-gpu's TensorFlow 2.9.1 binaries (built up to compute capability 8.6): kernels are JIT-compiled from PTX at first use, which can take many minutes`,
    };
  }
  return { available: true, detail };
}

async function probeGpu(): Promise<BackendReport> {
  const diagnosis = diagnoseGpu({
    packageInstalled: packageInstalled("@tensorflow/tfjs-node-gpu"),
    gpus: listNvidiaGpus(),
    cudart11: sharedLibraryFound("libcudart.so.11.0"),
    cudnn8: sharedLibraryFound("libcudnn.so.8"),
  });
  return { name: "gpu", ...diagnosis };
}

function probeNative(): BackendReport {
  if (!packageInstalled("@tensorflow/tfjs-node")) {
    return {
      name: "native",
      available: false,
      reason: "@tensorflow/tfjs-node is not installed (optional dependency; its install downloads libtensorflow and may have failed)",
    };
  }
  try {
    require.resolve("@tensorflow/tfjs-node");
    return { name: "native", available: true, detail: "libtensorflow CPU" };
  } catch (error) {
    return { name: "native", available: false, reason: `@tensorflow/tfjs-node does not load: ${(error as Error).message}` };
  }
}

let webgpuAdapterInfo: string | undefined;
async function probeWebgpu(): Promise<BackendReport> {
  for (const pkg of ["@tensorflow/tfjs-backend-webgpu", "webgpu"]) {
    if (!packageInstalled(pkg)) return { name: "webgpu", available: false, reason: `${pkg} is not installed (optional dependency)` };
  }
  try {
    const gpu = await navigatorGpu();
    const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
    if (!adapter) {
      return { name: "webgpu", available: false, reason: "no WebGPU adapter: no Vulkan-capable GPU or libvulkan.so.1 is missing" };
    }
    const info = (adapter as { info?: { vendor?: string; architecture?: string; device?: string; description?: string } }).info;
    webgpuAdapterInfo = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(" ") || "WebGPU adapter";
    return {
      name: "webgpu",
      available: true,
      detail: webgpuAdapterInfo,
      warning: "WebGPU training in Node is experimental (Dawn's node bindings)",
    };
  } catch (error) {
    return { name: "webgpu", available: false, reason: `the webgpu package does not load: ${(error as Error).message}` };
  }
}

interface GpuLike {
  requestAdapter(options?: { powerPreference?: string }): Promise<unknown>;
}
let cachedNavigatorGpu: GpuLike | undefined;
async function navigatorGpu(): Promise<GpuLike> {
  if (cachedNavigatorGpu) return cachedNavigatorGpu;
  const mod = (await import("webgpu" as string)) as { create: (flags: string[]) => GpuLike; globals: Record<string, unknown> };
  Object.assign(globalThis, mod.globals);
  cachedNavigatorGpu = mod.create([]);
  return cachedNavigatorGpu;
}

let wasmSetUp: Promise<BackendReport> | undefined;
/** Point the wasm backend at its .wasm files on disk (Node cannot fetch them) and register our kernels. */
function setUpWasm(): Promise<BackendReport> {
  wasmSetUp ??= (async (): Promise<BackendReport> => {
    try {
      const wasm = await import("@tensorflow/tfjs-backend-wasm");
      const dist = path.join(path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json")), "dist") + path.sep;
      wasm.setWasmPaths(dist);
      registerWasmTrainingKernels();
      const previous = tf.getBackend();
      const ok = await tf.setBackend("wasm");
      if (!ok) return { name: "wasm", available: false, reason: "the wasm backend failed to initialise" };
      const simd = tf.env().getBool("WASM_HAS_SIMD_SUPPORT");
      if (previous && previous !== "wasm") await tf.setBackend(previous);
      // tfjs forces the multithread flag off in Node, so wasm here is single-threaded.
      return { name: "wasm", available: true, detail: `single thread${simd ? ", SIMD" : ""}` };
    } catch (error) {
      return { name: "wasm", available: false, reason: `the wasm backend does not load: ${(error as Error).message}` };
    }
  })();
  return wasmSetUp;
}

/** Try every backend and say which are available, and why not for the others. Loads nothing heavy twice. */
export async function probeBackends(): Promise<BackendReport[]> {
  configureTfjs();
  return [
    await probeGpu(),
    probeNative(),
    await probeWebgpu(),
    await setUpWasm(),
    { name: "cpu", available: true, detail: "plain JavaScript (slow)" },
  ];
}

/**
 * Make `pref` the active tfjs backend. "auto" takes the first of gpu → native → wasm → cpu that
 * loads; a named backend that cannot load throws a UserError with the reason.
 */
export async function resolveBackend(pref: BackendPreference = "auto"): Promise<ResolvedBackend> {
  configureTfjs();
  if (pref !== "auto" && !BACKEND_NAMES.includes(pref)) {
    throw new UserError(`Unknown backend "${String(pref)}".`, { code: "BACKEND_UNKNOWN", hint: `Use one of: auto, ${BACKEND_NAMES.join(", ")}.` });
  }
  const order: BackendName[] = pref === "auto" ? ["gpu", "native", "wasm", "cpu"] : [pref];
  const failures: BackendReport[] = [];
  for (const name of order) {
    const result = await activate(name);
    if (result.report.available) return result;
    failures.push(result.report);
  }
  const report = failures[failures.length - 1];
  throw new UserError(`Backend "${pref}" cannot load: ${report.reason ?? "unknown reason"}.`, {
    code: "BACKEND_UNAVAILABLE",
    hint: "Run `dat doctor` to see which backends load here, or pass --backend auto.",
    data: { backend: pref, reason: report.reason },
  });
}

async function activate(name: BackendName): Promise<ResolvedBackend> {
  const warnings: string[] = [];
  switch (name) {
    case "cpu": {
      await tf.setBackend("cpu");
      await tf.ready();
      return { name, tfjsName: "cpu", warnings, report: { name, available: true, detail: "plain JavaScript (slow)" } };
    }
    case "wasm": {
      const report = await setUpWasm();
      if (report.available) {
        await tf.setBackend("wasm");
        await tf.ready();
      }
      return { name, tfjsName: "wasm", warnings, report };
    }
    case "native":
    case "gpu": {
      const report = name === "gpu" ? await probeGpu() : probeNative();
      if (!report.available) return { name, tfjsName: "tensorflow", warnings, report };
      try {
        await import(name === "gpu" ? "@tensorflow/tfjs-node-gpu" as string : "@tensorflow/tfjs-node" as string);
        await tf.setBackend("tensorflow");
        await tf.ready();
      } catch (error) {
        return { name, tfjsName: "tensorflow", warnings, report: { name, available: false, reason: `${(error as Error).message}` } };
      }
      if (name === "gpu") {
        // The binding reports whether TensorFlow actually placed ops on a GPU; CUDA load failures only log.
        const usingGpu = (tf.backend() as unknown as { isUsingGpuDevice?: boolean }).isUsingGpuDevice;
        if (usingGpu === false) {
          return {
            name,
            tfjsName: "tensorflow",
            warnings,
            report: { name, available: false, reason: "tfjs-node-gpu loaded but TensorFlow found no usable GPU and fell back to the CPU (CUDA 11.2 / cuDNN 8.1 libraries not loadable?)" },
          };
        }
      }
      if (report.warning) warnings.push(report.warning);
      return { name, tfjsName: "tensorflow", warnings, report };
    }
    case "webgpu": {
      const report = await probeWebgpu();
      if (!report.available) return { name, tfjsName: "webgpu", warnings, report };
      // The webgpu backend registers itself only if navigator.gpu exists when it is imported.
      const g = globalThis as { navigator?: { gpu?: unknown } };
      if (!g.navigator?.gpu) {
        Object.defineProperty(globalThis, "navigator", { value: { ...(g.navigator ?? {}), gpu: await navigatorGpu() }, configurable: true, writable: true });
      }
      await import("@tensorflow/tfjs-backend-webgpu" as string);
      const ok = await tf.setBackend("webgpu");
      if (!ok) return { name, tfjsName: "webgpu", warnings, report: { name, available: false, reason: "the webgpu backend failed to initialise" } };
      if (report.warning) warnings.push(report.warning);
      return { name, tfjsName: "webgpu", warnings, report };
    }
  }
}
