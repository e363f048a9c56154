/** Worker of the round benchmark: its contributors seal, sign and submit concurrently. */
import { parentPort, workerData } from "node:worker_threads";
import { privateKeyToAccount } from "viem/accounts";
import { createHttpOrchestrator } from "../../src/orchestrator/http/client.js";
import { buildSubmission } from "../../src/orchestrator/submission.js";
import type { RoundInfo } from "../../src/orchestrator/types.js";

const { url, round, delta, keys } = workerData as {
  url: string; round: RoundInfo; delta: { name: string; shape: number[]; data: Float32Array }[]; keys: `0x${string}`[];
};
const orch = createHttpOrchestrator({ url });
let ok = 0;
const failed: string[] = [];
await Promise.all(keys.map(async (key, i) => {
  const scale = 0.5 + (i % 10) / 10;
  const tensors = delta.map((t) => ({ ...t, data: t.data.map((v) => v * scale) }));
  try {
    const built = await buildSubmission({ account: privateKeyToAccount(key), round, tensors, sampleCount: 100 + i });
    await orch.submit(built.submission, built.sealed);
    ok++;
  } catch (error) {
    failed.push((error as Error).message);
  }
}));
await orch.close();
parentPort!.postMessage({ ok, failed });
