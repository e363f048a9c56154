/**
 * Worker of the round benchmark: its contributors seal and sign first, say "ready", and on "go"
 * all POST at once, so the orchestrator's CPU is measured while the simulated contributors only
 * upload (on their own machines they would not share its cores).
 */
import { parentPort, workerData } from "node:worker_threads";
import { privateKeyToAccount } from "viem/accounts";
import { createHttpOrchestrator } from "../../src/orchestrator/http/client.js";
import { buildSubmission } from "../../src/contributor/submission.js";
import type { RoundInfo } from "../../src/orchestrator/types.js";

const { url, round, delta, keys } = workerData as {
  url: string; round: RoundInfo; delta: { name: string; shape: number[]; data: Float32Array }[]; keys: `0x${string}`[];
};
const orch = createHttpOrchestrator({ url });
const built = await Promise.all(keys.map(async (key, i) => {
  const scale = 0.5 + (i % 10) / 10;
  const tensors = delta.map((t) => ({ ...t, data: t.data.map((v) => v * scale) }));
  return buildSubmission({ account: privateKeyToAccount(key), round, tensors, sampleCount: 100 + i });
}));
await new Promise<void>((resolve) => {
  parentPort!.once("message", () => resolve());
  parentPort!.postMessage({ ready: true });
});
let ok = 0;
const failed: string[] = [];
await Promise.all(built.map(async ({ submission, sealed }) => {
  try {
    await orch.submit(submission, sealed);
    ok++;
  } catch (error) {
    failed.push((error as Error).message);
  }
}));
await orch.close();
parentPort!.postMessage({ ok, failed });
