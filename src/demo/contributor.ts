/**
 * A demo contributor: its own home, wallet and private shard, talking to the orchestrator through
 * the typed Orchestrator interface exactly as a remote node does. It trains in memory on its shard
 * (no CSV round trip) and then runs the contributor's one pipeline (src/contributor/push.ts):
 * clipping, noise, privacy ledger, encoding, sealing, signing and submitting are the ones `dat
 * train --job` runs. The only demo-specific step is the attack, plugged in as the pipeline's
 * transform: the poisoning happens on the plain delta, where a malicious contributor would tamper.
 */
import type { PrivateKeyAccount } from "viem/accounts";
import type { DataSource } from "../train/data/source.js";
import type { Orchestrator } from "../orchestrator/types.js";
import { attackDelta, type AttackContext, type AttackSpec } from "./attacks.js";

export interface DemoContributorOptions {
  /** The contributor's home (privacy ledger, top-k residuals). */
  home: string;
  account: PrivateKeyAccount;
  orchestrator: Orchestrator;
  data: DataSource;
  backend: string;
  seed: number;
  /** Worker threads for training (`dat demo --threads`); undefined: trainLocal's default. */
  threads?: number;
  attack?: AttackSpec;
  /** The sample count an attacker claims (`--attack-samples`); honest contributors claim their shard's. */
  claimSamples?: number;
  /** The attackers' shared slot for the `copy` attack (one object for all attackers of a demo). */
  copySlot?: AttackContext["copySlot"];
}

export interface PushedDelta {
  round: number;
  sampleCount: number;
  /** Local training loss of the last epoch. */
  trainLoss?: number;
  blobCid: string;
}

export interface DemoContributor {
  register(): Promise<void>;
  /** Take part in the job's collecting round. */
  trainAndPush(jobId: number): Promise<PushedDelta>;
}

/** Builds a contributor bound to one home, one wallet, one shard and one orchestrator. */
export async function createDemoContributor(options: DemoContributorOptions): Promise<DemoContributor> {
  const { account, orchestrator, attack } = options;
  const [{ buildRegistration }, { contributeRound }, { fetchVerifiedModel }, { jobTrainingSettings }, { unpackModel }, { trainLocal }] = await Promise.all([
    import("../contributor/submission.js"),
    import("../contributor/push.js"),
    import("../contributor/pull.js"),
    import("../contributor/trainForJob.js"),
    import("../train/modelIo.js"),
    import("../train/trainLocal.js"),
  ]);
  let round = 0;
  // The global model this contributor pulled last round: with the current one it gives the public
  // previous update a free-rider sends.
  let previousGlobal: { cid: string; weights: Float32Array[] } | undefined;
  return {
    async register() {
      await orchestrator.registerNode(await buildRegistration(account, options.backend, { backend: options.backend, client: "dat demo" }));
    },

    async trainAndPush(jobId: number) {
      const info = await orchestrator.currentRound(jobId);
      const model = await unpackModel(await fetchVerifiedModel(orchestrator, info.modelCid));
      try {
        const current = model.getWeights().map((w) => w.dataSync() as Float32Array).map((d) => Float32Array.from(d));
        const previousUpdate = previousGlobal && previousGlobal.cid !== info.modelCid
          ? current.map((w, i) => w.map((v, j) => v - previousGlobal!.weights[i][j]))
          : undefined;
        previousGlobal = { cid: info.modelCid, weights: current };
        const trained = await trainLocal({ model, data: options.data, ...jobTrainingSettings(info), seed: options.seed + round++, threads: options.threads });
        const sampleCount = attack && options.claimSamples !== undefined ? options.claimSamples : trained.sampleCount;
        const context: AttackContext = { previousUpdate, copySlot: options.copySlot, round: info.round, seed: options.seed * 7919 + info.round };
        const receipt = await contributeRound(orchestrator, account, info, {
          tensors: trained.delta.map((t) => ({ name: t.name, shape: t.shape, data: t.data })),
          sampleCount,
          metrics: { loss: trained.metrics.loss, samples: trained.sampleCount },
        }, {
          home: options.home,
          transformDelta: attack ? (tensors) => attackDelta(tensors, attack, context) : undefined,
        });
        return { round: info.round, sampleCount, trainLoss: trained.metrics.loss, blobCid: receipt.blobCid };
      } finally {
        model.dispose();
      }
    },
  };
}
