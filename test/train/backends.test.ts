import * as tf from "@tensorflow/tfjs";
import { afterEach, describe, expect, it } from "vitest";
import { diagnoseGpu, isSoftwareAdapter, probeBackends, resolveBackend, sharedLibraryFound, type GpuFacts } from "../../src/train/backends.js";

describe("GPU diagnosis", () => {
  const base = { packageInstalled: true, gpus: [{ name: "NVIDIA A100", computeCapability: 8.0 }], cudart11: true, cudnn8: true };

  it.each([
    [{ ...base, packageInstalled: false }, /tfjs-node-gpu is not installed/],
    [{ ...base, gpus: undefined }, /nvidia-smi not found/],
    [{ ...base, gpus: [] }, /lists no GPU/],
    [{ ...base, cudart11: false }, /libcudart\.so\.11\.0 not found.*falls back to CPU on CUDA 12/],
    [{ ...base, cudnn8: false }, /libcudnn\.so\.8 not found/],
  ])("reports why the GPU cannot train: %#", (facts, reason) => {
    const d = diagnoseGpu(facts);
    expect(d.available).toBe(false);
    expect(d.reason).toMatch(reason);
  });

  it.each([
    ["NVIDIA A100", 8.0],
    ["NVIDIA A10", 8.6],
    ["NVIDIA L4", 8.9],
    ["NVIDIA H100", 9.0],
    ["NVIDIA B200", 10.0],
    ["NVIDIA RTX PRO 6000 Blackwell", 12.0],
  ])("warns that %s (sm %s, newer than sm_75) JIT-compiles kernels at first use", (name, computeCapability) => {
    const d = diagnoseGpu({ ...base, gpus: [{ name, computeCapability }] });
    expect(d.available).toBe(true);
    expect(d.warning).toMatch(/JIT-compiles them from PTX at first use/);
    expect(d.warning).toContain(`compute capability ${computeCapability}`);
  });

  it.each([["Tesla T4", 7.5], ["Tesla V100", 7.0]])("does not warn for %s (sm %s, in the binaries)", (name, computeCapability) => {
    const d = diagnoseGpu({ ...base, gpus: [{ name, computeCapability }] });
    expect(d.available).toBe(true);
    expect(d.warning).toBeUndefined();
  });
});

describe("shared library lookup", () => {
  const cache = "3 libs found in cache `/etc/ld.so.cache'\n\tlibcudart.so.11.0 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.11.0\n";

  it("asks /sbin/ldconfig by path first, since /sbin is not on a Debian user's PATH", () => {
    const calls: string[] = [];
    const found = sharedLibraryFound("libcudart.so.11.0", {}, (file, args) => {
      calls.push(`${file} ${args.join(" ")}`);
      return cache;
    });
    expect(found).toBe(true);
    expect(calls).toEqual(["/sbin/ldconfig -p"]);
  });

  it("falls back to ldconfig on PATH, then LD_LIBRARY_PATH, and does not match a longer name", () => {
    const calls: string[] = [];
    const run = (file: string) => {
      calls.push(file);
      if (file === "/sbin/ldconfig") throw new Error("ENOENT");
      return cache;
    };
    expect(sharedLibraryFound("libcudart.so.11.0", {}, run)).toBe(true);
    expect(calls).toEqual(["/sbin/ldconfig", "ldconfig"]);
    expect(sharedLibraryFound("libcudart.so.11", {}, run)).toBe(false);
    const none = () => {
      throw new Error("ENOENT");
    };
    expect(sharedLibraryFound("libcudart.so.11.0", { LD_LIBRARY_PATH: "/nonexistent" }, none)).toBe(false);
  });

  it("finds libc through the real ldconfig with an empty PATH", () => {
    const saved = process.env.PATH;
    process.env.PATH = "";
    try {
      expect(sharedLibraryFound("libc.so.6", {})).toBe(true);
    } finally {
      process.env.PATH = saved;
    }
  });
});

describe("tfjs-node-gpu activation (fake module through the injected loader)", () => {
  const facts: GpuFacts = { packageInstalled: true, gpus: [{ name: "NVIDIA A10", computeCapability: 8.6 }], cudart11: true, cudnn8: true };
  /** What importing tfjs-node-gpu does: register the "tensorflow" backend, which says whether TensorFlow found a GPU. */
  const fakeTfjsNodeGpu = (isUsingGpuDevice: boolean) => async (specifier: string) => {
    expect(specifier).toBe("@tensorflow/tfjs-node-gpu");
    tf.registerBackend("tensorflow", () => Object.assign(tf.findBackendFactory("cpu")!() as tf.KernelBackend, { isUsingGpuDevice }));
    return {};
  };
  afterEach(async () => {
    await resolveBackend("cpu");
    if (tf.findBackend("tensorflow")) tf.removeBackend("tensorflow");
  });

  it("refuses a forced gpu when TensorFlow fell back to the CPU at run time", async () => {
    const error = await resolveBackend("gpu", { deps: { gpuFacts: () => facts, loadModule: fakeTfjsNodeGpu(false) } }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "GPU_CUDA_FALLBACK" });
    expect((error as Error).message).toMatch(/fell back to the CPU/);
  });

  it("activates it on a GPU, with the JIT warning for sm_86", async () => {
    const resolved = await resolveBackend("gpu", { deps: { gpuFacts: () => facts, loadModule: fakeTfjsNodeGpu(true) } });
    expect(resolved.name).toBe("gpu");
    expect(tf.getBackend()).toBe("tensorflow");
    expect(resolved.warnings.join("\n")).toMatch(/JIT-compiles/);
  });

  it("auto falls back past it and says why", async () => {
    const resolved = await resolveBackend("auto", { deps: { gpuFacts: () => facts, loadModule: fakeTfjsNodeGpu(false) } });
    expect(resolved.name).not.toBe("gpu");
    expect(resolved.fallbacks[0]).toMatchObject({ name: "gpu", reason: expect.stringMatching(/fell back to the CPU/) });
    expect(resolved.warnings.join("\n")).toMatch(/not training on gpu: .*fell back to the CPU/);
  });
});

describe("software adapters", () => {
  it.each([
    [{ vendor: "mesa", architecture: "software", description: "llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)" }, undefined, true],
    [{ vendor: "google", architecture: "", description: "SwiftShader Device (Subzero)" }, undefined, true],
    [{ vendor: "mesa", architecture: "", description: "Lavapipe" }, undefined, true],
    [{ vendor: "nvidia", architecture: "hopper", description: "NVIDIA H100 80GB HBM3" }, true, true],
    [{ vendor: "nvidia", architecture: "hopper", description: "NVIDIA H100 80GB HBM3" }, false, false],
    [{ vendor: "amd", architecture: "rdna-3", description: "AMD Radeon RX 7900 XTX (RADV NAVI31)" }, undefined, false],
  ])("%o (fallback %s) is software: %s", (info, fallback, software) => {
    expect(isSoftwareAdapter(info, fallback)).toBe(software);
  });

  it("auto never picks a software adapter, and a forced webgpu on one needs allowSoftwareGpu", async () => {
    const webgpu = (await probeBackends({ allowSoftwareGpu: true })).find((r) => r.name === "webgpu")!;
    if (!webgpu.adapter?.software) {
      console.warn(`[skipped: no software WebGPU adapter here] ${webgpu.reason ?? webgpu.detail}`);
      return;
    }
    expect((await resolveBackend("auto")).name).not.toBe("webgpu");
    await expect(resolveBackend("webgpu")).rejects.toMatchObject({ code: "WEBGPU_SOFTWARE_ADAPTER", hint: expect.stringMatching(/--allow-software-gpu/) });
    const doctorView = (await probeBackends()).find((r) => r.name === "webgpu")!;
    expect(doctorView).toMatchObject({ available: false, adapter: { software: true } });
    expect((await resolveBackend("webgpu", { allowSoftwareGpu: true })).name).toBe("webgpu");
  }, 60_000);
});

describe("backend probe", () => {
  it("lists all five backends with wasm and cpu available here, and fails a forced unavailable one with its reason", async () => {
    const reports = await probeBackends();
    expect(reports.map((r) => r.name)).toEqual(["gpu", "native", "webgpu", "wasm", "cpu"]);
    expect(reports.find((r) => r.name === "wasm")!.available).toBe(true);
    for (const r of reports.filter((r) => !r.available)) expect(r.reason).toBeTruthy();
    const gpu = reports[0];
    if (!gpu.available) await expect(resolveBackend("gpu")).rejects.toThrow(`Backend "gpu" cannot load: ${gpu.reason}`);
    expect((await resolveBackend("auto")).name).toBe(reports.find((r) => r.available && r.name !== "webgpu")!.name);
  });
});
