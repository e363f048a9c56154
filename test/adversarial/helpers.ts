/**
 * Economic attacks against the real embedded orchestrator (SQLite, blob store, HPKE, EIP-712, the
 * job's strategy and scoring): honest contributors train the fixture MLP on their own synthetic
 * shards; attackers submit what each attack sends. No chain here (stakes: see stake tests).
 */
import fs from "node:fs";
import type { PrivateKeyAccount } from "viem/accounts";
import { createEmbeddedOrchestrator, type EmbeddedOrchestrator } from "../../src/orchestrator/embedded.js";
import { buildRegistration, buildSubmission } from "../../src/contributor/submission.js";
import type { CloseRoundResult, CreateJobInput, RoundInfo } from "../../src/orchestrator/types.js";
import { account, jobInput, tempHome, tinyModel } from "../orchestrator/helpers.js";

export type Tensors = { name: string; shape: number[]; data: Float32Array }[];

export interface Participant {
  account: PrivateKeyAccount;
  /** Makes this participant's delta for the round (trained, or an attack). */
  delta(round: RoundInfo, ctx: { honest: Map<string, Tensors>; previousGlobal?: Tensors; global: Tensors }): Promise<{ tensors: Tensors; sampleCount: number }>;
}

export interface Network {
  home: string;
  orch: EmbeddedOrchestrator;
  close(): Promise<void>;
}

export async function network(overrides: Partial<CreateJobInput> = {}): Promise<Network> {
  const home = tempHome("dat-adv-");
  const { writeTabularCsv } = await import("../orchestrator/cli.js");
  await writeTabularCsv(`${home}/val.csv`, 300, 99);
  const orch = await createEmbeddedOrchestrator({ home });
  const { bytes } = await tinyModel();
  await orch.createJob(jobInput({ minContributors: 2, rounds: 5, validationPath: `${home}/val.csv`, labelColumn: "label", ...overrides }), bytes);
  return { home, orch, close: async () => { await orch.close(); fs.rmSync(home, { recursive: true, force: true }); } };
}

/** An honest contributor: trains one epoch on its own synthetic shard (non-IID with `spread` / label skew via seed). */
export function honest(seed: number, count = 200, options: { labels?: number[] } = {}): Participant {
  return {
    account: account(),
    async delta(round) {
      const { syntheticTabular, unpackModel, trainLocal, materialize, arraySource } = await import("../../src/train/index.js");
      const { fetchVerifiedModel } = await import("../../src/contributor/pull.js");
      let data = syntheticTabular({ count, seed, spread: 1.5 });
      if (options.labels) {
        // Non-IID: this contributor only has the given classes.
        const { x, y } = await materialize(data);
        const keep = [...y.keys()].filter((i) => options.labels!.includes(y[i]));
        const f = data.featureShape[0];
        const xs = new Float32Array(keep.length * f);
        keep.forEach((i, k) => xs.set(x.subarray(i * f, (i + 1) * f), k * f));
        data = arraySource(`non-iid(seed=${seed})`, xs, Int32Array.from(keep.map((i) => y[i])), [f]);
      }
      const model = await unpackModel(await fetchVerifiedModel(orchHolder.current!, round.modelCid));
      try {
        const trained = await trainLocal({ model, data, epochs: 2, batchSize: 16, lr: 0.05, seed });
        return { tensors: trained.delta.map((t) => ({ name: t.name, shape: t.shape, data: t.data })), sampleCount: trained.sampleCount };
      } finally {
        model.dispose();
      }
    },
  };
}

/** The orchestrator the participants pull from (set by `runRound`). */
export const orchHolder: { current?: EmbeddedOrchestrator } = {};

/** The current global model's weights as delta-shaped tensors. */
async function globalTensors(orch: EmbeddedOrchestrator, cid: string): Promise<Tensors> {
  const { readModelBlob, tensorOffsets } = await import("../../src/orchestrator/modelBlob.js");
  const view = await readModelBlob(await orch.getModel(cid));
  const offsets = tensorOffsets(view.specs);
  return view.specs.map((s, i) => ({
    name: s.name, shape: s.shape, data: view.weights.slice(offsets[i], offsets[i] + s.shape.reduce((a, b) => a * b, 1)),
  }));
}

const registered = new WeakSet<PrivateKeyAccount>();
let previous: { cid: string; tensors: Tensors } | undefined;

/** Opens a round, collects every participant's submission (honest first), closes it. */
export async function runRound(net: Network, participants: Participant[]): Promise<CloseRoundResult> {
  orchHolder.current = net.orch;
  const round = await net.orch.openRound(1);
  const global = await globalTensors(net.orch, round.modelCid);
  const previousGlobal = previous && previous.cid !== round.modelCid ? previous.tensors : undefined;
  const honestDeltas = new Map<string, Tensors>();
  for (const p of participants) {
    if (!registered.has(p.account)) {
      await net.orch.registerNode(await buildRegistration(p.account, "cpu", { cpu: "test" }));
      registered.add(p.account);
    }
    const d = await p.delta(round, { honest: honestDeltas, global, ...(previousGlobal ? { previousGlobal } : {}) });
    honestDeltas.set(p.account.address, d.tensors);
    const built = await buildSubmission({ account: p.account, round, tensors: d.tensors, sampleCount: d.sampleCount });
    await net.orch.submit(built.submission, built.sealed);
  }
  previous = { cid: round.modelCid, tensors: global };
  return net.orch.closeRound(1);
}

export function resetPrevious(): void {
  previous = undefined;
}

/** Share of the round's total score that went to these addresses (rewards split pro rata). */
export function shareOf(result: CloseRoundResult, who: PrivateKeyAccount[]): number {
  const set = new Set(who.map((a) => a.address.toLowerCase()));
  const total = result.scores.reduce((s, x) => s + x.score, 0);
  const theirs = result.scores.filter((x) => set.has(x.address.toLowerCase())).reduce((s, x) => s + x.score, 0);
  return total === 0 ? 0 : theirs / total;
}

export function map(tensors: Tensors, f: (v: number, i: number, j: number) => number): Tensors {
  return tensors.map((t, i) => ({ ...t, data: t.data.map((v, j) => f(v, i, j)) }));
}
