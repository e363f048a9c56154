/** Shared fixtures of the orchestrator tests: temp homes, a tiny packed model, accounts, deltas. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { generatePrivateKey, privateKeyToAccount, type PrivateKeyAccount } from "viem/accounts";
import { readModelBlob, type ModelBlobView } from "../../src/orchestrator/modelBlob.js";
import type { CreateJobInput } from "../../src/orchestrator/types.js";

export function tempHome(prefix = "dat-orch-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

let modelCache: { bytes: Uint8Array; view: ModelBlobView } | undefined;

/** The packed fixture MLP (built once per test file). */
export async function tinyModel(): Promise<{ bytes: Uint8Array; view: ModelBlobView }> {
  if (!modelCache) {
    const { buildFixtureModel, packModel } = await import("../../src/train/index.js");
    const model = buildFixtureModel("mlp-tabular", 7);
    const bytes = await packModel(model);
    model.dispose();
    modelCache = { bytes, view: await readModelBlob(bytes) };
  }
  return modelCache;
}

export function account(): PrivateKeyAccount {
  return privateKeyToAccount(generatePrivateKey());
}

/** A delta with every value equal to `value`, shaped like the model. */
export function constantDelta(view: ModelBlobView, value: number): { name: string; shape: number[]; data: Float32Array }[] {
  return view.specs.map((s) => ({ name: s.name, shape: s.shape, data: new Float32Array(s.shape.reduce((a, b) => a * b, 1)).fill(value) }));
}

export function jobInput(overrides: Partial<CreateJobInput> = {}): CreateJobInput {
  return {
    rounds: 3,
    minContributors: 2,
    deadlineSeconds: 600,
    hyper: { epochs: 1, batchSize: 16, lr: 0.05, optimizer: "sgd" },
    strategy: "fedavg",
    encoding: "float32",
    ...overrides,
  };
}

/** The typed error code a promise rejects with ("no error" when it resolves). */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as { code?: string }).code ?? `untyped: ${String(error)}`;
  }
  return "no error";
}
