/**
 * A demo contributor: its own wallet and private shard, talking to the orchestrator through the
 * typed Orchestrator interface exactly as a remote node does — a signed registration; per round,
 * pull the global model, train locally, (attackers: poison the delta), clip and add noise when the
 * job asks for differential privacy, encode, seal to the round key, sign and submit.
 *
 * The poisoning happens here, on the plain delta before it is encoded and sealed, because that is
 * where a malicious contributor would tamper: the orchestrator sees a well-formed submission.
 */
import type { PrivateKeyAccount } from "viem/accounts";
import type { DataSource } from "../train/data/source.js";
import type { Hex, Orchestrator } from "../orchestrator/types.js";
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

interface Tensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/**
 * Clip the whole delta to L2 norm `clip`, then add N(0, (noise·clip)²) to every element
 * (the Gaussian mechanism of DP-FedAvg). `random` returns standard normal draws.
 */
export function privatizeDelta(tensors: readonly Tensor[], clip: number, noise: number, random: () => number): Tensor[] {
  let sq = 0;
  for (const t of tensors) for (let i = 0; i < t.data.length; i++) sq += t.data[i] * t.data[i];
  const norm = Math.sqrt(sq);
  // Slightly under the bound: float32 rounding must not push a clipped delta over it.
  const scale = norm > clip ? (clip * (1 - 1e-6)) / norm : 1;
  const sigma = noise * clip;
  return tensors.map((t) => {
    const data = new Float32Array(t.data.length);
    for (let i = 0; i < data.length; i++) data[i] = t.data[i] * scale + (sigma > 0 ? sigma * random() : 0);
    return { ...t, data };
  });
}

/** A seeded standard normal generator (Box–Muller over the training module's RNG). */
async function normalSource(seed: number): Promise<() => number> {
  const { createRng } = await import("../train/rng.js");
  const rng = createRng(seed);
  return () => rng.normal();
}

/** Build a contributor bound to one wallet, one shard and one orchestrator. */
export async function createContributorClient(options: ContributorClientOptions): Promise<ContributorClient> {
  const { account, orchestrator } = options;
  const address = account.address.toLowerCase() as Hex;
  const normal = await normalSource(options.seed);
  let round = 0;
  return {
    async register() {
      const { signRegistration } = await import("../crypto/eip712.js");
      const { hashNodeMetadata } = await import("../orchestrator/nodeMetadata.js");
      const metadata = { backend: options.backend, client: "dat demo" };
      const hardwareHash = hashNodeMetadata(metadata);
      const timestamp = Math.floor(Date.now() / 1000);
      const signature = await signRegistration(account, { node: account.address, hardwareHash, backend: options.backend, timestamp });
      await orchestrator.registerNode({ address, backend: options.backend, hardwareHash, timestamp, metadata, signature });
    },

    async trainAndPush(jobId: number) {
      const [{ unpackModel }, { trainLocal }, { encodeDelta }, { sealDelta }, { signSubmission, hashMetrics }, { cidForBytes }] =
        await Promise.all([
          import("../train/modelIo.js"),
          import("../train/trainLocal.js"),
          import("../core/delta/index.js"),
          import("../crypto/hpke.js"),
          import("../crypto/eip712.js"),
          import("../store/cid.js"),
        ]);
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
          seed: options.seed + round++,
        });
        let delta: Tensor[] = trained.delta.map((t) => ({ name: t.name, shape: t.shape, data: t.data }));
        if (options.attack) delta = poisonDelta(delta, options.attack);
        if (info.dp) delta = privatizeDelta(delta, info.dp.clip, info.dp.noise, normal);
        const { bytes } = encodeDelta(
          { sampleCount: trained.sampleCount, tensors: delta.map((t, i) => ({ ...t, dtype: trained.delta[i].dtype })), fingerprint: info.fingerprint },
          { encoding: info.encoding },
        );
        const sealed = await sealDelta(bytes, Buffer.from(info.publicKey.slice(2), "hex"), {
          jobId: info.jobId,
          round: info.round,
          contributor: address,
        });
        const blobCid = await cidForBytes(sealed);
        const metricsHash = await hashMetrics({ loss: trained.metrics.loss, samples: trained.sampleCount });
        const message = {
          jobId: info.jobId,
          round: info.round,
          address,
          blobCid,
          sampleCount: trained.sampleCount,
          metricsHash,
          fingerprint: info.fingerprint,
        };
        const signature = await signSubmission(account, {
          jobId: message.jobId,
          round: message.round,
          blobCid,
          sampleCount: message.sampleCount,
          metricsHash,
          modelFingerprint: info.fingerprint,
        });
        await orchestrator.submit({ ...message, signature }, sealed);
        return { round: info.round, sampleCount: trained.sampleCount, trainLoss: trained.metrics.loss, blobCid };
      } finally {
        model.dispose();
      }
    },
  };
}
