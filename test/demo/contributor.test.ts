/**
 * The demo's contributor runs the contributors' one pipeline (contributeRound): on a DP job it
 * writes the privacy ledger in its home, and its attack reaches the orchestrator as a well-formed,
 * accepted submission.
 */
import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createEmbeddedOrchestrator, type EmbeddedOrchestrator } from "../../src/orchestrator/embedded.js";
import { readPrivacyLedger } from "../../src/contributor/privacyLedger.js";
import { createDemoContributor } from "../../src/demo/contributor.js";
import { arraySource } from "../../src/train/data/source.js";
import { account, jobInput, tempHome, tinyModel } from "../orchestrator/helpers.js";

function shard(seed: number) {
  const n = 24;
  const x = new Float32Array(n * 8).map((_, i) => Math.sin(i * 0.37 + seed));
  const y = Array.from({ length: n }, (_, i) => (i + seed) % 3);
  return arraySource(`shard-${seed}`, x, y, [8]);
}

describe("demo contributor", () => {
  let root = "";
  let orch: EmbeddedOrchestrator | undefined;
  afterEach(async () => {
    await orch?.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("writes the privacy ledger on a DP job and submits its poisoned delta through the same pipeline", async () => {
    root = tempHome("dat-demo-contrib-");
    orch = await createEmbeddedOrchestrator({ home: path.join(root, "operator") });
    const { bytes } = await tinyModel();
    const job = await orch.createJob(jobInput({ minContributors: 2, dpClip: 1, dpNoise: 0.5, encoding: "topk:0.5" }), bytes);
    const homes = [path.join(root, "c1"), path.join(root, "c2")];
    const contributors = await Promise.all(homes.map((home, i) => createDemoContributor({
      home, account: account(), orchestrator: orch!, data: shard(i), backend: "cpu", seed: i,
      attack: i === 1 ? { kind: "sign-flip", factor: 3 } : undefined,
    })));
    for (const c of contributors) await c.register();

    for (const round of [1, 2]) {
      await orch.openRound(job.id);
      for (const c of contributors) await c.trainAndPush(job.id);
      const status = await orch.roundStatus(job.id, round);
      expect(status.accepted).toBe(2);
      await orch.closeRound(job.id);
    }

    for (const home of homes) {
      expect(readPrivacyLedger(home, job.id)).toEqual([1, 2]);
      // top-k error feedback is kept in the home, as `dat train --job` keeps it.
      expect(fs.existsSync(path.join(home, "residuals", `job-${job.id}.bin`))).toBe(true);
    }
  });
});
