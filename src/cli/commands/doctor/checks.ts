/**
 * The checks behind `dat doctor`. Each returns data only; nothing here prints or changes the home
 * (the database is opened read-only, so a pending migration is reported, not applied).
 */
import fs from "node:fs";
import { execFile } from "node:child_process";
import { configOptions, type CliContext } from "../../context.js";
import { inspectHome } from "../../../config/home.js";

export type CheckStatus = "ok" | "warn" | "fail" | "skip";

export interface Check {
  name: string;
  status: CheckStatus;
  summary: string;
  details?: Record<string, unknown>;
}

/** One tfjs backend as reported by src/train/backends.ts `probeBackends()`. */
export interface BackendReport {
  name: "gpu" | "native" | "webgpu" | "wasm" | "cpu";
  available: boolean;
  reason?: string;
  warning?: string;
  detail?: string;
  hint?: string;
  /** The WebGPU adapter Dawn found (webgpu only), available or not. */
  adapter?: { vendor: string; architecture: string; device: string; description: string; software: boolean };
}

export interface DoctorReport {
  ok: boolean;
  checks: Check[];
  backends: BackendReport[];
}

const NETWORK_TIMEOUT_MS = 3000;
const BACKEND_PROBE_TIMEOUT_MS = 120_000;
const MIN_NODE = [20, 18, 1];

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function checkNode(): Check {
  const version = process.versions.node;
  const parts = version.split(".").map(Number);
  let ok = true;
  for (let i = 0; i < 3; i++) {
    if (parts[i] !== MIN_NODE[i]) {
      ok = parts[i] > MIN_NODE[i];
      break;
    }
  }
  return {
    name: "node",
    status: ok ? "ok" : "fail",
    summary: ok ? `Node ${version}` : `Node ${version} is older than the required ${MIN_NODE.join(".")}`,
    details: { version, required: `>=${MIN_NODE.join(".")}`, platform: process.platform, arch: process.arch },
  };
}

export function checkHome(home: string): Check {
  try {
    if (inspectHome(home) === "missing") {
      return { name: "home", status: "warn", summary: `${home} does not exist yet (run: dat init)`, details: { path: home, exists: false } };
    }
    fs.accessSync(home, fs.constants.R_OK | fs.constants.W_OK);
    return { name: "home", status: "ok", summary: home, details: { path: home, exists: true } };
  } catch (error) {
    return { name: "home", status: "fail", summary: errorText(error), details: { path: home } };
  }
}

export async function checkWallet(home: string): Promise<Check> {
  const { keystoreExists, keystorePath, readAddress } = await import("../../../crypto/keystore.js");
  if (!keystoreExists(home)) return { name: "wallet", status: "warn", summary: "no wallet (run: dat init)" };
  const file = keystorePath(home);
  try {
    const address = await readAddress(home);
    const mode = fs.statSync(file).mode & 0o777;
    if (process.platform !== "win32" && (mode & 0o077) !== 0) {
      return { name: "wallet", status: "fail", summary: `${file} has mode ${mode.toString(8)}: run chmod 600 ${file}`, details: { address, path: file } };
    }
    return { name: "wallet", status: "ok", summary: address, details: { address, path: file } };
  } catch (error) {
    return { name: "wallet", status: "fail", summary: errorText(error), details: { path: file } };
  }
}

export async function checkDatabase(home: string): Promise<Check> {
  const { inspectDatabase } = await import("../../../db/index.js");
  try {
    const info = inspectDatabase(home);
    if (!info.exists) return { name: "database", status: "warn", summary: `no database yet (created on first use)`, details: info };
    if ((info.version ?? 0) > info.latest) {
      return { name: "database", status: "fail", summary: `schema version ${info.version} is newer than this dat (${info.latest}): upgrade dat`, details: info };
    }
    if (info.integrity !== "ok") return { name: "database", status: "fail", summary: `integrity check: ${info.integrity}`, details: info };
    const pending = info.latest - (info.version ?? 0);
    return {
      name: "database",
      status: "ok",
      summary: `schema version ${info.version}` + (pending > 0 ? ` (migrates to ${info.latest} on next use)` : ""),
      details: info,
    };
  } catch (error) {
    return { name: "database", status: "fail", summary: errorText(error) };
  }
}

/** nvidia-smi when installed, else the kernel driver's proc file. */
export async function checkGpu(): Promise<Check> {
  const smi = await new Promise<string | undefined>((resolve) => {
    execFile(
      "nvidia-smi",
      ["--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
      { timeout: 10_000 },
      (error, stdout) => resolve(error ? undefined : stdout.trim()),
    );
  });
  if (smi) {
    const gpus = smi.split("\n").map((line) => {
      const [name, driver, memory] = line.split(",").map((s) => s.trim());
      return { name, driver, memory };
    });
    return { name: "gpu", status: "ok", summary: gpus.map((g) => `${g.name} (driver ${g.driver}, ${g.memory})`).join("; "), details: { present: true, gpus } };
  }
  try {
    const version = fs.readFileSync("/proc/driver/nvidia/version", "utf8").split("\n")[0].trim();
    return { name: "gpu", status: "ok", summary: `NVIDIA driver present (${version}); nvidia-smi not found`, details: { present: true, driver: version } };
  } catch {
    return { name: "gpu", status: "ok", summary: "no NVIDIA GPU found (training runs on the CPU)", details: { present: false } };
  }
}

/** The training engineer's backend probe, loaded lazily so doctor works while tfjs is absent. */
export async function probeTfjsBackends(options: { allowSoftwareGpu?: boolean } = {}): Promise<{ backends?: BackendReport[]; error?: string }> {
  // A variable specifier keeps tsc from requiring the module at build time and keeps tfjs out of
  // everything but this check.
  const specifier = "../../../train/backends.js";
  let mod: { probeBackends?: (options: { allowSoftwareGpu?: boolean }) => Promise<BackendReport[]> };
  try {
    mod = (await import(specifier)) as typeof mod;
  } catch (error) {
    return { error: `the backend probe could not be loaded: ${errorText(error)}` };
  }
  if (typeof mod.probeBackends !== "function") return { error: "the backend probe is missing from this build" };
  let timer: NodeJS.Timeout | undefined;
  try {
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${BACKEND_PROBE_TIMEOUT_MS / 1000} s`)), BACKEND_PROBE_TIMEOUT_MS);
    });
    const backends = await Promise.race([mod.probeBackends(options), deadline]);
    if (!Array.isArray(backends)) return { error: "the backend probe returned no list" };
    return { backends };
  } catch (error) {
    return { error: `the backend probe failed: ${errorText(error)}` };
  } finally {
    clearTimeout(timer);
  }
}

export function checkBackends(
  probe: { backends?: BackendReport[]; error?: string },
  preferred: string | undefined,
  gpuPresent: boolean,
): Check {
  if (!probe.backends) return { name: "backends", status: "fail", summary: probe.error ?? "unknown" };
  const available = probe.backends.filter((b) => b.available).map((b) => b.name);
  const details = { available, preferred: preferred ?? "auto" };
  if (available.length === 0) return { name: "backends", status: "fail", summary: "no tfjs backend loads", details };
  if (preferred && preferred !== "auto" && !available.includes(preferred as BackendReport["name"])) {
    const reason = probe.backends.find((b) => b.name === preferred)?.reason ?? "not available";
    return { name: "backends", status: "fail", summary: `configured backend ${preferred} does not load: ${reason}`, details };
  }
  const webgpu = probe.backends.find((b) => b.name === "webgpu");
  if (webgpu?.adapter && !webgpu.adapter.software && !webgpu.available) {
    return { name: "backends", status: "warn", summary: `loads: ${available.join(", ")}; a GPU adapter is present but ${webgpu.reason ?? "webgpu does not load"}`, details };
  }
  const gpu = probe.backends.find((b) => b.name === "gpu");
  if (gpuPresent && (!gpu?.available || gpu.warning)) {
    return {
      name: "backends",
      status: "warn",
      summary: `loads: ${available.join(", ")}; a GPU is present but ${gpu?.warning ?? gpu?.reason ?? "the GPU backend does not load"}`,
      details,
    };
  }
  return { name: "backends", status: "ok", summary: `loads: ${available.join(", ")}`, details };
}

/**
 * The chain RPC answers eth_chainId (and matches chain.chainId when set). An unreachable RPC that
 * only comes from the default is a warning: nothing was configured that fails.
 */
export async function checkChain(rpcUrl: string, source: string, expectedChainId?: number): Promise<Check> {
  const configured = source !== "default";
  try {
    const { createPublicClient, http } = await import("viem");
    const client = createPublicClient({ transport: http(rpcUrl, { timeout: NETWORK_TIMEOUT_MS, retryCount: 0 }) });
    const chainId = await client.getChainId();
    if (expectedChainId !== undefined && chainId !== expectedChainId) {
      return { name: "chain", status: "fail", summary: `${rpcUrl} is chain ${chainId}, config says ${expectedChainId}`, details: { rpcUrl, chainId, source } };
    }
    return { name: "chain", status: "ok", summary: `${rpcUrl} (chain ${chainId})`, details: { rpcUrl, chainId, source } };
  } catch (error) {
    const firstLine = errorText(error).split("\n")[0];
    return {
      name: "chain",
      status: configured ? "fail" : "warn",
      summary: `${rpcUrl} unreachable${configured ? "" : " (the default; set chain.rpcUrl to use a chain)"}: ${firstLine}`,
      details: { rpcUrl, source, reachable: false },
    };
  }
}

/** GET <url>/health on the configured orchestrator; the embedded one needs no check. */
export async function checkOrchestrator(url: string | undefined, source: string): Promise<Check> {
  if (!url) return { name: "orchestrator", status: "ok", summary: "embedded (in-process, no server needed)", details: { embedded: true } };
  const target = url.replace(/\/+$/, "") + "/health";
  try {
    const { request } = await import("undici");
    const response = await request(target, {
      method: "GET",
      headersTimeout: NETWORK_TIMEOUT_MS,
      bodyTimeout: NETWORK_TIMEOUT_MS,
      signal: AbortSignal.timeout(NETWORK_TIMEOUT_MS),
    });
    await response.body.text();
    if (response.statusCode >= 200 && response.statusCode < 300) {
      return { name: "orchestrator", status: "ok", summary: `${url} answers`, details: { url, source, status: response.statusCode } };
    }
    return { name: "orchestrator", status: "fail", summary: `${target} answered HTTP ${response.statusCode}`, details: { url, source, status: response.statusCode } };
  } catch (error) {
    return { name: "orchestrator", status: "fail", summary: `${url} unreachable: ${errorText(error)}`, details: { url, source, reachable: false } };
  }
}

/** Run every check. `ok` is false when any check failed. */
export async function runDoctor(
  ctx: Pick<CliContext, "home" | "env" | "orchestrator" | "rpcUrl">,
  options: { allowSoftwareGpu?: boolean } = {},
): Promise<DoctorReport> {
  const checks: Check[] = [checkNode()];
  const home = checkHome(ctx.home);
  checks.push(home);
  const { loadConfig } = await import("../../../config/index.js");
  let config: Awaited<ReturnType<typeof loadConfig>> | undefined;
  try {
    config = await loadConfig(configOptions(ctx));
    checks.push({ name: "config", status: "ok", summary: config.file + (fs.existsSync(config.file) ? "" : " (not created; defaults apply)") });
  } catch (error) {
    checks.push({ name: "config", status: "fail", summary: errorText(error) });
  }
  if (home.status === "ok") {
    checks.push(await checkWallet(ctx.home));
    checks.push(await checkDatabase(ctx.home));
  } else {
    checks.push({ name: "wallet", status: "skip", summary: "no home" }, { name: "database", status: "skip", summary: "no home" });
  }
  const gpu = await checkGpu();
  checks.push(gpu);
  const probe = await probeTfjsBackends({ allowSoftwareGpu: options.allowSoftwareGpu ?? config?.values.train.allowSoftwareGpu ?? false });
  checks.push(checkBackends(probe, config?.values.train.backend, gpu.details?.present === true));
  if (config) {
    checks.push(await checkChain(config.values.chain.rpcUrl, config.sources["chain.rpcUrl"], config.values.chain.chainId));
    checks.push(await checkOrchestrator(config.values.orchestrator.url, config.sources["orchestrator.url"]));
  } else {
    checks.push({ name: "chain", status: "skip", summary: "config invalid" }, { name: "orchestrator", status: "skip", summary: "config invalid" });
  }
  return { ok: checks.every((c) => c.status !== "fail"), checks, backends: probe.backends ?? [] };
}
