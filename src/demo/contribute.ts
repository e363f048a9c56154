/**
 * A demo contributor: its own wallet and private shard, talking to the orchestrator through the
 * typed Orchestrator interface exactly as a remote node does. Registration and the submission
 * (encode, seal to the round key, sign) are the orchestrator's shared contributor code, and the
 * clipping and noise are src/core/privacy's; the only demo-specific step is the attack.
 *
 * The poisoning happens on the plain delta before it is clipped, encoded and sealed, because that
 * is where a malicious contributor would tamper: the orchestrator sees a well-formed submission.
 */
import type { PrivateKeyAccount } from "viem/accounts";
import type { DataSource } from "../train/data/source.js";
import type { Orchestrator } from "../orchestrator/types.js";
import { poisonDelta, type AttackSpec } from "./attacks.js";

export interface ContributorClientOptions {
  account: PrivateKeyAccount;
  orchestrator: Orchestrator;
  data: DataSource;
  backend: string;
  seed: number;
  attack?: AttackSpec;
}

export interface PushedDelta {
  round: number;
  sampleCount: number;
  /** Local training loss of the last epoch. */
  trainLoss?: number;
  blobCid: string;
}

export interface ContributorClient {
  register(): Promise<void>;
  /** Take part in the job's collecting round. */
  trainAndPush(jobId: number): Promise<PushedDelta>;
}

/** Build a contributor bound to one wallet, one shard and one orchestrator. */
export async function createContributorClient(options: ContributorClientOptions): Promise<ContributorClient> {
  const { account, orchestrator } = options;
  const [{ buildRegistration, buildSubmission }, { privatizeDelta }, { unpackModel }, { trainLocal }] = await Promise.all([
    import("../orchestrator/submission.js"),
    import("../core/privacy/index.js"),
    import("../train/modelIo.js"),
    import("../train/trainLocal.js"),
  ]);
  let round = 0;
  // Top-k error feedback: what this contributor did not send last round, kept in memory as a node keeps it on disk.
  let residual: Float32Array[] | undefined;
  return {
    async register() {
      await orchestrator.registerNode(await buildRegistration(account, options.backend, { backend: options.backend, client: "dat demo" }));
    },

    async trainAndPush(jobId: number) {
      const info = await orchestrator.currentRound(jobId);
      const model = await unpackModel(await orchestrator.getModel(info.modelCid));
      try {
        const trained = await trainLocal({
          model,
          data: options.data,
          epochs: info.hyper.epochs,
          batchSize: info.hyper.batchSize,
          lr: info.hyper.lr,
          optimizer: info.hyper.optimizer,
          mu: info.strategy === "fedprox" ? (info.strategyParams.mu ?? 0) : 0,
          seed: options.seed + round++,
        });
        let tensors = trained.delta.map((t) => ({ name: t.name, shape: t.shape, data: t.data }));
        if (options.attack) tensors = poisonDelta(tensors, options.attack);
        if (info.dp) {
          const { arrays } = privatizeDelta(
            tensors.map((t) => t.data),
            { clipNorm: info.dp.clip, noiseMultiplier: info.dp.noise },
          );
          tensors = tensors.map((t, i) => ({ ...t, data: arrays[i] }));
        }
        const built = await buildSubmission({
          account,
          round: info,
          tensors,
          sampleCount: trained.sampleCount,
          metrics: { loss: trained.metrics.loss, samples: trained.sampleCount },
          residual,
        });
        await orchestrator.submit(built.submission, built.sealed);
        residual = built.residual;
        return { round: info.round, sampleCount: trained.sampleCount, trainLoss: trained.metrics.loss, blobCid: built.submission.blobCid };
      } finally {
        model.dispose();
      }
    },
  };
}
