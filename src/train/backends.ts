/**
 * Which tfjs backend trains here. Auto picks the first that loads: tfjs-node-gpu on a visible CUDA
 * device → WebGPU on a hardware adapter → tfjs-node → wasm → plain JS cpu, and reports why it
 * passed over each GPU path it skipped. A forced backend that cannot load fails with the reason and
 * the fix. GPU facts designed for: tfjs-node-gpu 4.22 is TensorFlow 2.9.1 for CUDA 11.2 / cuDNN 8.1,
 * so on CUDA 12+ it silently runs on the CPU after failing to load libcudart.so.11.0, and its
 * kernels reach sm_75, so every newer GPU (Ampere sm_80/86, Ada sm_89, Hopper sm_90, Blackwell)
 * JIT-compiles them from PTX at first use. WebGPU runs through Dawn (`webgpu`) on Vulkan; a software
 * Vulkan driver (Mesa's lavapipe/llvmpipe, SwiftShader) gives an adapter that is slower than wasm,
 * so auto never takes it and a forced `webgpu` needs allowSoftwareGpu.
 */
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { UserError, type ErrorCode } from "../core/errors.js";
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
  /** The WebGPU adapter found, available or not (webgpu only). */
  adapter?: WebgpuAdapter;
  /** A stable error code for a forced backend that cannot load (default BACKEND_UNAVAILABLE). */
  code?: ErrorCode;
  /** How to fix it, for a forced backend that cannot load. */
  hint?: string;
  /** Hardware or a package for this backend is present but unusable: auto says why it passed it over. */
  present?: boolean;
}

/** What Dawn says about its adapter (GPUAdapterInfo), and whether it is a software rasteriser. */
export interface WebgpuAdapter {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  software: boolean;
}

export interface BackendOptions {
  /** Let a forced `webgpu` train on a software adapter (lavapipe/llvmpipe/SwiftShader); auto never does. */
  allowSoftwareGpu?: boolean;
  /** Test seams: how modules load, which shared libraries and GPUs this machine has. */
  deps?: Partial<BackendDeps>;
}

export interface BackendDeps {
  /** `import()` of an optional backend package (tfjs-node, tfjs-node-gpu). */
  loadModule: (specifier: string) => Promise<unknown>;
  /** Facts diagnoseGpu decides from. */
  gpuFacts: () => GpuFacts;
}

export interface ResolvedBackend {
  name: BackendName;
  /** The name tfjs knows it by ("tensorflow", "wasm", "cpu", "webgpu"). */
  tfjsName: string;
  warnings: string[];
  report: BackendReport;
  /** Backends auto tried first and passed over, with the reason (empty for a forced backend). */
  fallbacks: { name: BackendName; reason: string }[];
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

type RunCommand = (file: string, args: string[]) => string;
const runCommand: RunCommand = (file, args) =>
  execFileSync(file, args, { encoding: "utf8", timeout: 10_000, stdio: ["ignore", "pipe", "ignore"] });

/**
 * Whether the dynamic loader can find a shared library: ldconfig's cache, else LD_LIBRARY_PATH.
 * ldconfig lives in /sbin, which is not on a Debian user's PATH, so it is called by path first.
 */
export function sharedLibraryFound(soname: string, env: NodeJS.ProcessEnv = process.env, run: RunCommand = runCommand): boolean {
  for (const ldconfig of ["/sbin/ldconfig", "ldconfig"]) {
    let cache: string;
    try {
      cache = run(ldconfig, ["-p"]);
    } catch {
      continue;
    }
    if (cache.split("\n").some((line) => line.trim().startsWith(soname + " ") || line.trim() === soname)) return true;
    break;
  }
  const fs = require("node:fs") as typeof import("node:fs");
  return (env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean).some((dir) => fs.existsSync(path.join(dir, soname)));
}

export interface GpuFacts {
  packageInstalled: boolean;
  gpus: NvidiaGpu[] | undefined;
  cudart11: boolean;
  cudnn8: boolean;
}

/** The newest compute capability tfjs-node-gpu 4.22's CUDA 11.2 kernels are built for (sm_75). */
const TFJS_NODE_GPU_MAX_SASS = 7.5;

/** Pure diagnosis of the tfjs-node-gpu situation, from facts gathered elsewhere (testable). */
export function diagnoseGpu(facts: GpuFacts): { available: boolean; reason?: string; warning?: string; detail?: string; present?: boolean } {
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
      present: true,
      reason:
        "libcudart.so.11.0 not found: tfjs-node-gpu 4.22 is built for CUDA 11.2 / cuDNN 8.1 and silently falls back to CPU on CUDA 12+ systems",
    };
  }
  if (!facts.cudnn8) return { available: false, present: true, reason: "libcudnn.so.8 not found: tfjs-node-gpu 4.22 needs cuDNN 8.1" };
  const gpu = facts.gpus[0];
  const detail = `${gpu.name}${gpu.computeCapability ? ` (compute capability ${gpu.computeCapability})` : ""}`;
  if (gpu.computeCapability !== undefined && gpu.computeCapability > TFJS_NODE_GPU_MAX_SASS) {
    return {
      available: true,
      detail,
      warning: `${gpu.name} (compute capability ${gpu.computeCapability}) is newer than tfjs-node-gpu's CUDA 11.2 kernels (built up to sm_75): TensorFlow JIT-compiles them from PTX at first use, which can take many minutes (cached afterwards in ~/.nv/ComputeCache)`,
    };
  }
  return { available: true, detail };
}

function gatherGpuFacts(): GpuFacts {
  return {
    packageInstalled: packageInstalled("@tensorflow/tfjs-node-gpu"),
    gpus: listNvidiaGpus(),
    cudart11: sharedLibraryFound("libcudart.so.11.0"),
    cudnn8: sharedLibraryFound("libcudnn.so.8"),
  };
}

const defaultDeps: BackendDeps = {
  loadModule: (specifier) => import(specifier),
  gpuFacts: gatherGpuFacts,
};

function probeGpu(deps: BackendDeps): BackendReport {
  return { name: "gpu", ...diagnoseGpu(deps.gpuFacts()) };
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

/** Software Vulkan/WebGPU implementations: Mesa's lavapipe (llvmpipe), Google's SwiftShader. */
const SOFTWARE_ADAPTER = /lavapipe|llvmpipe|swiftshader|softpipe|software/i;

/** Whether an adapter is a CPU rasteriser, from its info and Dawn's isFallbackAdapter. */
export function isSoftwareAdapter(info: Partial<Omit<WebgpuAdapter, "software">>, isFallbackAdapter?: boolean): boolean {
  if (isFallbackAdapter === true) return true;
  return [info.vendor, info.architecture, info.device, info.description].some((v) => typeof v === "string" && SOFTWARE_ADAPTER.test(v));
}

function describeAdapter(adapter: WebgpuAdapter): string {
  const text = [adapter.vendor, adapter.architecture, adapter.description || adapter.device].filter(Boolean).join(" ") || "WebGPU adapter";
  return adapter.software ? `${text} (software adapter)` : text;
}

const SOFTWARE_HINT =
  "A software adapter trains slower than wasm. To use it anyway (CI does): --allow-software-gpu, DAT_TRAIN_ALLOW_SOFTWARE_GPU=true or `dat config set train.allowSoftwareGpu true`. For a real GPU install its Vulkan driver (NVIDIA: the proprietary driver ships nvidia_icd.json).";

async function probeWebgpu(options: BackendOptions): Promise<BackendReport> {
  for (const pkg of ["@tensorflow/tfjs-backend-webgpu", "webgpu"]) {
    if (!packageInstalled(pkg)) {
      return { name: "webgpu", available: false, reason: `${pkg} is not installed (optional dependency)`, code: "WEBGPU_NOT_INSTALLED", hint: "Reinstall dat with its optional dependencies (npm install --include=optional)." };
    }
  }
  let adapter: AdapterLike | null;
  try {
    const gpu = await navigatorGpu();
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch (error) {
    return { name: "webgpu", available: false, reason: `the webgpu package does not load: ${(error as Error).message}`, code: "WEBGPU_LOAD_FAILED", hint: "Reinstall the webgpu package (npm rebuild webgpu); it ships Dawn for linux-x64/arm64, macOS and Windows." };
  }
  if (!adapter) {
    if (process.platform === "linux" && !sharedLibraryFound("libvulkan.so.1")) {
      return {
        name: "webgpu",
        available: false,
        reason: "no WebGPU adapter: the Vulkan loader libvulkan.so.1 is missing",
        code: "WEBGPU_NO_VULKAN_LOADER",
        hint: "Install the Vulkan loader (Debian/Ubuntu: apt-get install libvulkan1) and your GPU's Vulkan driver.",
      };
    }
    return {
      name: "webgpu",
      available: false,
      reason: "no WebGPU adapter: the Vulkan loader found no Vulkan driver (ICD) for a GPU",
      code: "WEBGPU_NO_ADAPTER",
      hint: "Install your GPU's Vulkan driver (NVIDIA: the proprietary driver, with VK_DRIVER_FILES pointing at its nvidia_icd.json if it is not found); `vulkaninfo --summary` lists what Vulkan sees.",
    };
  }
  const info = adapter.info ?? {};
  const found: WebgpuAdapter = {
    vendor: String(info.vendor ?? ""),
    architecture: String(info.architecture ?? ""),
    device: String(info.device ?? ""),
    description: String(info.description ?? ""),
    software: false,
  };
  found.software = isSoftwareAdapter(found, adapter.isFallbackAdapter);
  const detail = describeAdapter(found);
  if (found.software && !options.allowSoftwareGpu) {
    return {
      name: "webgpu",
      available: false,
      present: true,
      adapter: found,
      detail,
      reason: `the only WebGPU adapter is a software one (${detail}), not a GPU`,
      code: "WEBGPU_SOFTWARE_ADAPTER",
      hint: SOFTWARE_HINT,
    };
  }
  return {
    name: "webgpu",
    available: true,
    adapter: found,
    detail,
    warning: found.software ? "software adapter: trains on the CPU, slower than wasm (allowed by --allow-software-gpu)" : undefined,
  };
}

interface AdapterLike {
  info?: { vendor?: unknown; architecture?: unknown; device?: unknown; description?: unknown };
  isFallbackAdapter?: boolean;
}
interface GpuLike {
  requestAdapter(options?: { powerPreference?: string }): Promise<AdapterLike | null>;
}
let cachedNavigatorGpu: GpuLike | undefined;
async function navigatorGpu(): Promise<GpuLike> {
  if (cachedNavigatorGpu) return cachedNavigatorGpu;
  const mod = (await import("webgpu" as string)) as { create: (flags: string[]) => GpuLike; globals: Record<string, unknown> };
  Object.assign(globalThis, mod.globals);
  cachedNavigatorGpu = mod.create([]);
  return cachedNavigatorGpu;
}

interface DeviceLostInfo {
  reason?: string;
  message?: string;
}
interface GpuDeviceLike {
  lost?: Promise<DeviceLostInfo>;
  addEventListener?: (type: string, listener: (event: { error?: { message?: string } }) => void) => void;
}
let deviceLost: DeviceLostInfo | undefined;
let watchedDevice: GpuDeviceLike | undefined;
let lastGpuError: string | undefined;

/** Record a lost device or uncaptured error of tfjs-webgpu's GPUDevice, to name it when training fails. */
function watchWebgpuDevice(): void {
  const device = (tf.backend() as unknown as { device?: GpuDeviceLike }).device;
  if (!device || device === watchedDevice) return;
  watchedDevice = device;
  deviceLost = undefined;
  void device.lost?.then((info) => {
    deviceLost = { reason: info?.reason, message: info?.message };
  });
  device.addEventListener?.("uncapturederror", (event) => {
    lastGpuError = event.error?.message ?? "unknown GPU error";
  });
}

/**
 * When the active backend is WebGPU and its device was lost (driver reset, GPU removed, out of
 * memory), the UserError that says so; else undefined. Call it on a training failure to replace
 * tfjs's low-level error with the cause and the fix.
 */
export function webgpuFailure(cause?: unknown): UserError | undefined {
  if (tf.getBackend() !== "webgpu" || !deviceLost) return undefined;
  const detail = [deviceLost.reason, deviceLost.message, lastGpuError].filter(Boolean).join(": ");
  return new UserError(`The WebGPU device was lost during training${detail ? ` (${detail})` : ""}.`, {
    code: "WEBGPU_DEVICE_LOST",
    hint: "The GPU driver reset or the GPU ran out of memory. Resume with `dat train --resume` (a smaller --batch-size uses less GPU memory), or train on the CPU with --backend wasm.",
    cause,
  });
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
export async function probeBackends(options: BackendOptions = {}): Promise<BackendReport[]> {
  configureTfjs();
  const deps = { ...defaultDeps, ...options.deps };
  return [
    probeGpu(deps),
    probeNative(),
    await probeWebgpu(options),
    await setUpWasm(),
    { name: "cpu", available: true, detail: "plain JavaScript (slow)" },
  ];
}

/**
 * Make `pref` the active tfjs backend. "auto" takes the first of gpu → webgpu (hardware adapter
 * only) → native → wasm → cpu that loads, and lists in `fallbacks` (and, for GPUs that are present
 * but unusable, in `warnings`) why it passed over the others. A named backend that cannot load
 * throws a UserError with the reason and the fix.
 */
export async function resolveBackend(pref: BackendPreference = "auto", options: BackendOptions = {}): Promise<ResolvedBackend> {
  configureTfjs();
  if (pref !== "auto" && !BACKEND_NAMES.includes(pref)) {
    throw new UserError(`Unknown backend "${String(pref)}".`, { code: "BACKEND_UNKNOWN", hint: `Use one of: auto, ${BACKEND_NAMES.join(", ")}.` });
  }
  const deps = { ...defaultDeps, ...options.deps };
  // Auto never trains on a software adapter: wasm is faster than lavapipe on the same CPU.
  const activateOptions = pref === "auto" ? { ...options, allowSoftwareGpu: false } : options;
  const order: BackendName[] = pref === "auto" ? ["gpu", "webgpu", "native", "wasm", "cpu"] : [pref];
  const failures: BackendReport[] = [];
  for (const name of order) {
    const result = await activate(name, activateOptions, deps);
    if (result.report.available) {
      result.fallbacks = failures.map((f) => ({ name: f.name, reason: f.reason ?? "not available" }));
      for (const f of failures.filter((f) => f.present)) result.warnings.unshift(`not training on ${f.name}: ${f.reason ?? "not available"}`);
      return result;
    }
    failures.push(result.report);
  }
  const report = failures[failures.length - 1];
  throw new UserError(`Backend "${pref}" cannot load: ${report.reason ?? "unknown reason"}.`, {
    code: pref === "auto" ? "BACKEND_UNAVAILABLE" : (report.code ?? "BACKEND_UNAVAILABLE"),
    hint: report.hint ?? "Run `dat doctor` to see which backends load here, or pass --backend auto.",
    data: { backend: pref, reason: report.reason, ...(report.adapter ? { adapter: report.adapter } : {}) },
  });
}

async function activate(name: BackendName, options: BackendOptions, deps: BackendDeps): Promise<ResolvedBackend> {
  const warnings: string[] = [];
  const done = (tfjsName: string, report: BackendReport): ResolvedBackend => ({ name, tfjsName, warnings, report, fallbacks: [] });
  switch (name) {
    case "cpu": {
      await tf.setBackend("cpu");
      await tf.ready();
      return done("cpu", { name, available: true, detail: "plain JavaScript (slow)" });
    }
    case "wasm": {
      const report = await setUpWasm();
      if (report.available) {
        await tf.setBackend("wasm");
        await tf.ready();
      }
      return done("wasm", report);
    }
    case "native":
    case "gpu": {
      const report = name === "gpu" ? probeGpu(deps) : probeNative();
      if (!report.available) return done("tensorflow", report);
      try {
        await deps.loadModule(name === "gpu" ? "@tensorflow/tfjs-node-gpu" : "@tensorflow/tfjs-node");
        if (!(await tf.setBackend("tensorflow"))) throw new Error("the tensorflow backend failed to initialise");
        await tf.ready();
      } catch (error) {
        return done("tensorflow", { name, available: false, present: true, reason: `${(error as Error).message}` });
      }
      if (name === "gpu") {
        // The binding reports whether TensorFlow actually placed ops on a GPU; CUDA load failures only log.
        const usingGpu = (tf.backend() as unknown as { isUsingGpuDevice?: boolean }).isUsingGpuDevice;
        if (usingGpu === false) {
          return done("tensorflow", {
            name,
            available: false,
            present: true,
            reason: "tfjs-node-gpu loaded but TensorFlow found no usable GPU and fell back to the CPU (CUDA 11.2 / cuDNN 8.1 libraries not loadable?)",
            code: "GPU_CUDA_FALLBACK",
            hint: "tfjs-node-gpu 4.22 needs CUDA 11.2 and cuDNN 8.1; on newer CUDA use --backend webgpu.",
          });
        }
      }
      if (report.warning) warnings.push(report.warning);
      return done("tensorflow", report);
    }
    case "webgpu": {
      const report = await probeWebgpu(options);
      if (!report.available) return done("webgpu", report);
      // The webgpu backend registers itself only if navigator.gpu exists when it is imported.
      const g = globalThis as { navigator?: { gpu?: unknown } };
      if (!g.navigator?.gpu) {
        Object.defineProperty(globalThis, "navigator", { value: { ...(g.navigator ?? {}), gpu: await navigatorGpu() }, configurable: true, writable: true });
      }
      await import("@tensorflow/tfjs-backend-webgpu" as string);
      const ok = await tf.setBackend("webgpu");
      if (!ok) {
        return done("webgpu", { ...report, available: false, present: true, reason: "the webgpu backend failed to initialise (Dawn could not create a device on the adapter)", code: "WEBGPU_INIT_FAILED", hint: "Run `dat doctor`; update the GPU driver, or use --backend wasm." });
      }
      watchWebgpuDevice();
      if (report.warning) warnings.push(report.warning);
      return done("webgpu", report);
    }
  }
}
