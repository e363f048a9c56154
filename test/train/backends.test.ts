import { describe, expect, it } from "vitest";
import { diagnoseGpu, probeBackends, resolveBackend } from "../../src/train/backends.js";

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

  it("warns about JIT compilation on Hopper and not on Ampere", () => {
    const ampere = diagnoseGpu(base);
    expect(ampere.available).toBe(true);
    expect(ampere.warning).toBeUndefined();
    const hopper = diagnoseGpu({ ...base, gpus: [{ name: "NVIDIA H100", computeCapability: 9.0 }] });
    expect(hopper.available).toBe(true);
    expect(hopper.warning).toMatch(/JIT-compiled/);
  });
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
