/**
 * Learning quality on real data: Fashion-MNIST (Debian's dataset-fashion-mnist), 10 contributors
 * with a Dirichlet(α) label split, a CNN made by buildTemplateModel (what `dat model init
 * --template cnn --inputs 28x28x1 --classes 10` writes), trained and aggregated in-process with
 * the functions dat itself runs: trainLocal (src/train) for every local step and createStrategy
 * (src/core/aggregate) for every aggregation.
 *
 * Rows: centralized (the same model trained on the union of the clients' data for rounds × local
 * epochs), federated clean per strategy, and federated with `--attackers` of the clients
 * attacking, per attack kind:
 *   sign-flip  −Δ of the attacker's honest delta (src/demo/attacks.ts)
 *   scale      10·Δ (src/demo/attacks.ts)
 *   free-ride  the previous round's public global update (zero in round 1), no training
 *   copy       an exact copy of one honest client's delta and sample count
 *   zero       an all-zero delta, no training
 *   noise      Gaussian noise whose norm is 10× the median honest delta norm of the round
 * Columns: final test accuracy, Δ vs the same strategy's clean run (points), median wall time per
 * round and training samples per second of round time (both on this machine, under its load;
 * rounds that reused cached round-1 deltas are left out of both).
 *
 *   npm run bench -- learning [--rounds 20] [--train-per-client 300] [--test 2000]
 *     [--strategies fedavg,fedavgm:server-lr=1:momentum=0.7,robust] [--attacks sign-flip,scale,free-ride,copy,zero,noise]
 *     [--clients 10] [--attackers 2] [--alpha 0.5] [--epochs 3] [--batch 32] [--lr 0.1] [--seed 1] [--threads 1]
 *     [--skip-central] [--no-clean]   (to split one table over parallel processes; `--attacks none` runs clean only;
 *     `absent` in --attacks adds a reference row where the attackers send nothing)
 *
 * Round-1 honest deltas are the same in every run (same initial model, data and seeds), so they
 * are computed once and reused; every later round trains for real.
 */
import fs from "node:fs";
import os from "node:os";
import * as tf from "@tensorflow/tfjs";
import { createStrategy, resolveStrategyChoice, type ServerState } from "../../src/core/aggregate/index.js";
import { poisonVector } from "../../src/demo/attacks.js";
import { resolveBackend } from "../../src/train/backends.js";
import { openIdx } from "../../src/train/data/idx.js";
import { arraySource, type DataSource } from "../../src/train/data/source.js";
import { getWeightTensors, setWeightTensors, type WeightTensor } from "../../src/train/modelIo.js";
import { buildTemplateModel } from "../../src/train/modelTemplates.js";
import { partitionIndices } from "../../src/train/partition.js";
import { createRng, permutation } from "../../src/train/rng.js";
import { evaluate, trainLocal } from "../../src/train/trainLocal.js";
import { median, numberOption, option } from "./stats.js";

/** Debian's dataset-fashion-mnist; DAT_FASHION_DIR points elsewhere (the offline kit's subset). */
const FASHION = process.env.DAT_FASHION_DIR ?? "/usr/share/datasets/fashion-mnist";
const ATTACKS = ["sign-flip", "scale", "free-ride", "copy", "zero", "noise"] as const;
/**
 * Not an attack: the attackers send nothing. What the honest clients alone reach, i.e. the part of
 * every attack's loss that is the attackers' missing (non-IID) data rather than their poison.
 */
const ABSENT = "absent";
type Attack = (typeof ATTACKS)[number] | typeof ABSENT;

interface Row {
  strategy: string;
  attack: Attack | "clean" | "centralized";
  accuracy: number;
  deltaVsClean: number | null;
  secondsPerRound: number;
  samplesPerSec: number;
}

/** A seeded subset of an IDX pair, read in one streaming pass (indices chosen before reading). */
async function loadSubset(images: string, count: number, seed: number): Promise<DataSource> {
  const source = await openIdx(images);
  const n = Math.min(count, source.size);
  const chosen = new Set(Array.from(permutation(source.size, createRng(seed))).slice(0, n));
  const x = new Float32Array(n * 784);
  const y = new Float32Array(n);
  let i = 0;
  let k = 0;
  for await (const sample of source.read()) {
    if (chosen.has(i)) {
      x.set(sample.x, k * 784);
      y[k] = sample.y;
      k++;
    }
    i++;
  }
  return arraySource(`${images} (${n} of ${source.size})`, x, y, [28, 28, 1]);
}

function flatten(list: WeightTensor[]): Float32Array {
  const out = new Float32Array(list.reduce((s, w) => s + w.data.length, 0));
  let at = 0;
  for (const w of list) {
    out.set(w.data, at);
    at += w.data.length;
  }
  return out;
}

function unflatten(flat: Float32Array, like: WeightTensor[]): WeightTensor[] {
  let at = 0;
  return like.map((w) => {
    const data = flat.slice(at, at + w.data.length);
    at += w.data.length;
    return { ...w, data };
  });
}

function norm(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

function gaussianNoise(length: number, targetNorm: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i += 2) {
    // Box–Muller: two standard normals per pair of uniforms.
    const r = Math.sqrt(-2 * Math.log(1 - rng.next()));
    const t = 2 * Math.PI * rng.next();
    out[i] = r * Math.cos(t);
    if (i + 1 < length) out[i + 1] = r * Math.sin(t);
  }
  const scale = targetNorm / (norm(out) || 1);
  for (let i = 0; i < length; i++) out[i] *= scale;
  return out;
}

export default async function run(args: string[]): Promise<void> {
  const rounds = numberOption(args, "--rounds", 20);
  const perClient = numberOption(args, "--train-per-client", 300);
  const testCount = numberOption(args, "--test", 2000);
  const clients = numberOption(args, "--clients", 10);
  const attackers = numberOption(args, "--attackers", 2);
  const alpha = numberOption(args, "--alpha", 0.5);
  const localEpochs = numberOption(args, "--epochs", 3);
  const batchSize = numberOption(args, "--batch", 32);
  const lr = numberOption(args, "--lr", 0.1);
  const seed = numberOption(args, "--seed", 1);
  // One thread per training run by default: the centralized run is long enough that trainLocal
  // would take every core, and parallel processes (one row each) would then oversubscribe them.
  const threads = numberOption(args, "--threads", 1);
  const strategies = option(args, "--strategies", "fedavg,fedavgm:server-lr=1:momentum=0.7,robust").split(",").filter(Boolean);
  const attacks = option(args, "--attacks", ATTACKS.join(",")).split(",").filter((a) => a !== "" && a !== "none") as Attack[];
  // --no-clean skips each strategy's clean run (its Δ column is then empty): for splitting one
  // table over several processes, one of which runs the clean row.
  const runClean = !args.includes("--no-clean");
  for (const a of attacks) if (a !== ABSENT && !(ATTACKS as readonly string[]).includes(a)) throw new Error(`unknown attack ${a}; use ${ATTACKS.join(",")},${ABSENT}`);
  // "name:k=v:k=v" passes strategy parameters (e.g. trimmed-mean:beta=0.2), as `--strategy-param` does;
  // "robust" is what `--strategy robust` resolves to (core's ROBUST_STRATEGY).
  const makeStrategy = (spec: string) => {
    const [name, ...pairs] = spec.split(":");
    const { strategy, params } = resolveStrategyChoice(name, Object.fromEntries(pairs.map((p) => p.split("=") as [string, string])));
    return createStrategy(strategy, params);
  };
  for (const s of strategies) makeStrategy(s);

  const trainImages = `${FASHION}/train-images-idx3-ubyte.gz`;
  const testImages = `${FASHION}/t10k-images-idx3-ubyte.gz`;
  if (!fs.existsSync(trainImages) || !fs.existsSync(testImages)) {
    console.log(`skip learning: ${FASHION} is missing (apt-get install dataset-fashion-mnist)`);
    return;
  }
  const backend = await resolveBackend("wasm");
  const loadStart = performance.now();
  const train = await loadSubset(trainImages, perClient * clients, seed);
  const test = await loadSubset(testImages, testCount, seed + 1);
  const labels = Array.from({ length: train.size }, (_, i) => train.get!(i).y);
  const parts = partitionIndices(labels, clients, { kind: "dirichlet", alpha }, seed);
  const clientData = parts.map((idx, c) => {
    const x = new Float32Array(idx.length * 784);
    const y = new Float32Array(idx.length);
    idx.forEach((j, k) => {
      const s = train.get!(j);
      x.set(s.x, k * 784);
      y[k] = s.y;
    });
    return arraySource(`client ${c}`, x, y, [28, 28, 1]);
  });
  console.log(
    `Fashion-MNIST: ${train.size} training images over ${clients} clients (Dirichlet α=${alpha}: sizes ${clientData.map((d) => d.size).join(",")}), ` +
      `${test.size} test images; loaded in ${((performance.now() - loadStart) / 1000).toFixed(1)} s; backend ${backend.name}`,
  );

  const model = buildTemplateModel({ template: "cnn", inputs: [28, 28, 1], classes: 10, seed });
  const initial = await getWeightTensors(model);
  const initialFlat = flatten(initial);
  const accuracyOf = async (weights: Float32Array): Promise<number> => {
    setWeightTensors(model, unflatten(weights, initial));
    return (await evaluate(model, test, { batchSize: 500 })).accuracy ?? NaN;
  };
  const clientSeed = (round: number, client: number): number => seed * 1_000_003 + round * 1009 + client;
  const trainClient = async (global: Float32Array, client: number, round: number): Promise<Float32Array> => {
    setWeightTensors(model, unflatten(global, initial));
    const result = await trainLocal({ model, data: clientData[client], epochs: localEpochs, batchSize, lr, seed: clientSeed(round, client), threads });
    return flatten(result.delta);
  };
  const firstRound = new Map<number, Float32Array>();

  // Centralized: one model, the union of the clients' data, the same total epochs.
  const skipCentral = args.includes("--skip-central");
  const centralStart = performance.now();
  setWeightTensors(model, initial);
  if (!skipCentral) await trainLocal({ model, data: train, epochs: rounds * localEpochs, batchSize, lr, seed, threads });
  const centralSeconds = (performance.now() - centralStart) / 1000;
  const centralAccuracy = skipCentral ? NaN : ((await evaluate(model, test, { batchSize: 500 })).accuracy ?? NaN);
  const rows: Row[] = [
    {
      strategy: "-",
      attack: "centralized",
      accuracy: centralAccuracy,
      deltaVsClean: null,
      secondsPerRound: centralSeconds / rounds,
      samplesPerSec: (train.size * rounds * localEpochs) / centralSeconds,
    },
  ];
  console.log(`centralized: accuracy ${centralAccuracy.toFixed(4)} in ${centralSeconds.toFixed(1)} s`);

  const federated = async (strategyName: string, attack: Attack | "clean"): Promise<{ accuracy: number; secondsPerRound: number; samplesPerSec: number }> => {
    const strategy = makeStrategy(strategyName);
    const global = Float32Array.from(initialFlat);
    let previousUpdate: Float32Array = new Float32Array(global.length);
    let state: ServerState | undefined;
    const roundSeconds: number[] = [];
    const rates: number[] = [];
    const bad = attack === "clean" ? 0 : attackers;
    for (let round = 1; round <= rounds; round++) {
      const started = performance.now();
      let trainedSamples = 0;
      // A round that reused cached round-1 deltas did not train them: its time would flatter the rate.
      let reused = false;
      const honest = new Map<number, Float32Array>();
      // Honest clients first: copy and noise attacks use their deltas.
      for (let c = bad; c < clients; c++) {
        if (clientData[c].size === 0) continue;
        let delta = round === 1 ? firstRound.get(c) : undefined;
        if (delta) reused = true;
        else {
          delta = await trainClient(global, c, round);
          if (round === 1) firstRound.set(c, delta);
        }
        honest.set(c, delta);
        trainedSamples += clientData[c].size;
      }
      const updates = [...honest].map(([c, delta]) => ({ id: `client-${c}`, weight: clientData[c].size, delta }));
      const honestNorm = median([...honest.values()].map(norm));
      const [copied] = honest.keys();
      for (let c = 0; c < bad && attack !== ABSENT; c++) {
        let delta: Float32Array;
        let weight = Math.max(1, clientData[c].size);
        if (attack === "sign-flip" || attack === "scale") {
          const cached = round === 1 ? firstRound.get(c) : undefined;
          if (cached) reused = true;
          const own = cached ?? (clientData[c].size > 0 ? await trainClient(global, c, round) : new Float32Array(global.length));
          if (round === 1) firstRound.set(c, own);
          trainedSamples += clientData[c].size;
          delta = poisonVector(own, { kind: attack, factor: attack === "scale" ? 10 : 1 });
        } else if (attack === "free-ride") delta = Float32Array.from(previousUpdate);
        else if (attack === "copy") {
          delta = Float32Array.from(honest.get(copied)!);
          weight = clientData[copied].size;
        } else if (attack === "zero") delta = new Float32Array(global.length);
        else delta = gaussianNoise(global.length, 10 * honestNorm, clientSeed(round, c));
        updates.push({ id: `attacker-${c}`, weight, delta });
      }
      const acc = strategy.createAccumulator(global.length, state);
      for (const u of updates) acc.add(u);
      const result = acc.finish();
      state = result.state;
      for (let i = 0; i < global.length; i++) global[i] += result.delta[i];
      previousUpdate = result.delta;
      const seconds = (performance.now() - started) / 1000;
      if (!reused) {
        roundSeconds.push(seconds);
        rates.push(trainedSamples / seconds);
      }
    }
    const timed = roundSeconds.length > 0;
    return { accuracy: await accuracyOf(global), secondsPerRound: timed ? median(roundSeconds) : NaN, samplesPerSec: timed ? median(rates) : NaN };
  };

  for (const strategyName of strategies) {
    const clean = runClean ? await federated(strategyName, "clean") : undefined;
    if (clean) {
      rows.push({ strategy: strategyName, attack: "clean", accuracy: clean.accuracy, deltaVsClean: 0, secondsPerRound: clean.secondsPerRound, samplesPerSec: clean.samplesPerSec });
      console.log(`${strategyName} clean: accuracy ${clean.accuracy.toFixed(4)}`);
    }
    for (const attack of attacks) {
      const r = await federated(strategyName, attack);
      const deltaVsClean = clean ? (r.accuracy - clean.accuracy) * 100 : null;
      rows.push({ strategy: strategyName, attack, accuracy: r.accuracy, deltaVsClean, secondsPerRound: r.secondsPerRound, samplesPerSec: r.samplesPerSec });
      console.log(`${strategyName} ${attack}: accuracy ${r.accuracy.toFixed(4)}`);
    }
  }
  model.dispose();

  const load = os.loadavg().map((l) => l.toFixed(2)).join(" ");
  console.log(
    `\nFashion-MNIST, ${clients} clients, Dirichlet α=${alpha}, ${attackers}/${clients} attackers, ${rounds} rounds × ${localEpochs} local epoch(s), ` +
      `batch ${batchSize}, sgd lr ${lr}, cnn ${initialFlat.length} params, ${train.size} train / ${test.size} test images; ${os.cpus().length} cores, load ${load}`,
  );
  const fmt = (v: number | null, d: number, w: number): string => (v === null || !Number.isFinite(v) ? "-" : v.toFixed(d)).padStart(w);
  console.log(["strategy".padEnd(13), "attack".padEnd(11), "accuracy".padStart(8), "Δ clean (pts)".padStart(13), "s/round".padStart(8), "samples/s".padStart(9)].join("  "));
  for (const r of rows) {
    console.log([r.strategy.padEnd(13), r.attack.padEnd(11), fmt(r.accuracy, 4, 8), fmt(r.deltaVsClean, 1, 13), fmt(r.secondsPerRound, 2, 8), fmt(r.samplesPerSec, 0, 9)].join("  "));
  }
  const fedClean = rows.filter((r) => r.attack === "clean").map((r) => r.accuracy);
  if (fedClean.length > 0) console.log(`centralized ${centralAccuracy.toFixed(4)}; best clean federated ${Math.max(...fedClean).toFixed(4)} (${((Math.max(...fedClean) - centralAccuracy) * 100).toFixed(1)} pts)`);
  console.log(
    JSON.stringify({
      bench: "learning",
      dataset: "fashion-mnist",
      clients,
      attackers,
      alpha,
      rounds,
      localEpochs,
      batchSize,
      lr,
      trainImages: train.size,
      testImages: test.size,
      params: initialFlat.length,
      backend: backend.name,
      loadavg: os.loadavg(),
      rows,
    }),
  );
  tf.disposeVariables();
}
