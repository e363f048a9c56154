/**
 * An attacker of a real `dat serve`, run as its own process (`node --import tsx attacker.ts <plan>`):
 * an attacker is not bound to dat's CLI, so this one drives the contributor library directly. It
 * holds several staked wallets (their homes, unlocked with DAT_PASSPHRASE), talks to the
 * orchestrator over HTTP only, and submits through the same pipeline as `dat push`
 * (contributor/push.ts `contributeRound`), with the delta replaced by the attack (demo/attacks.ts,
 * as `dat demo --attack` does) before it is sealed and signed.
 *
 * Plan (argv[2], JSON): { url, jobId, source: <delta.json of one training run>, sampleCount,
 *   attackers: [{ home, attack: "copy"|"free-ride"|"zero"|"noise"|"inflate" }] }.
 * "inflate" claims 10⁹ samples for a reset delta (−global: it would zero the model).
 * Prints one JSON document: per attacker { address, attack, blobCid, accepted }.
 */
import { loadAccount } from "../../src/crypto/keystore.js";
import { createHttpOrchestrator } from "../../src/orchestrator/http/client.js";
import { fetchVerifiedModel, modelAuthOf } from "../../src/contributor/pull.js";
import { contributeRound, type DeltaTensor } from "../../src/contributor/push.js";
import { attackDelta, type AttackKind } from "../../src/demo/attacks.js";
import { readModelBlob, tensorOffsets } from "../../src/orchestrator/modelBlob.js";
import { readDeltaFiles } from "../../src/train/run.js";
import type { Orchestrator, ModelAuth } from "../../src/orchestrator/types.js";

export type AttackerKind = Extract<AttackKind, "copy" | "free-ride" | "zero" | "noise"> | "inflate";

export interface AttackPlan {
  url: string;
  jobId: number;
  /** delta.json of the one training run the attackers own (copied by the Sybil wallets; sizes the noise). */
  source: string;
  sampleCount: number;
  attackers: { home: string; attack: AttackerKind }[];
}

export const INFLATED_CLAIM = 1_000_000_000;

async function modelTensors(orch: Orchestrator, cid: string, auth: ModelAuth): Promise<DeltaTensor[]> {
  const view = await readModelBlob(await fetchVerifiedModel(orch, cid, auth));
  const offsets = tensorOffsets(view.specs);
  return view.specs.map((s, i) => ({
    name: s.name, shape: s.shape, data: view.weights.slice(offsets[i], offsets[i] + s.shape.reduce((a, b) => a * b, 1)),
  }));
}

async function main(): Promise<void> {
  const plan = JSON.parse(process.argv[2]) as AttackPlan;
  const passphrase = process.env.DAT_PASSPHRASE;
  if (!passphrase) throw new Error("DAT_PASSPHRASE is not set");
  const orch = createHttpOrchestrator({ url: plan.url });
  try {
    const round = await orch.currentRound(plan.jobId);
    const trained = (await readDeltaFiles(plan.source)).map((t) => ({ name: t.name, shape: t.shape, data: t.data }));
    const receipts = [];
    for (const [k, a] of plan.attackers.entries()) {
      const account = await loadAccount(a.home, passphrase);
      const auth = modelAuthOf(account);
      let tensors: DeltaTensor[];
      let sampleCount = plan.sampleCount;
      if (a.attack === "inflate") {
        tensors = (await modelTensors(orch, round.modelCid, auth)).map((t) => ({ ...t, data: t.data.map((v) => -v) }));
        sampleCount = INFLATED_CLAIM;
      } else {
        // The public previous update: this round's global minus the previous round's (both public CIDs).
        let previousUpdate: Float32Array[] | undefined;
        if (a.attack === "free-ride" && round.round > 1) {
          const before = await orch.roundStatus(plan.jobId, round.round - 1);
          const [now, then] = [await modelTensors(orch, round.modelCid, auth), await modelTensors(orch, before.baseModelCid, auth)];
          previousUpdate = now.map((t, i) => t.data.map((v, j) => v - then[i].data[j]));
        }
        tensors = attackDelta(trained, { kind: a.attack, factor: 1 }, { round: round.round, seed: 1000 + k, ...(previousUpdate ? { previousUpdate } : {}) });
      }
      const receipt = await contributeRound(orch, account, round, { tensors, sampleCount }, { home: a.home });
      receipts.push({ address: account.address.toLowerCase(), attack: a.attack, blobCid: receipt.blobCid, accepted: receipt.accepted });
    }
    process.stdout.write(JSON.stringify({ round: round.round, receipts }) + "\n");
  } finally {
    await orch.close();
  }
}

main().catch((error: Error & { code?: string }) => {
  process.stderr.write(`attacker failed: ${error.code ?? ""} ${error.stack ?? error.message}\n`);
  process.exit(1);
});
