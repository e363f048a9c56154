/**
 * Issue 13, every attack at once against the real network: the operator's `dat devnet` and
 * `dat serve`, each participant a separate process with its own --home, staked through
 * `dat node register --stake`. Round 1 is honest (three `dat train --job`); in round 2 the same
 * three train again while, in the same round, a Sybil trains once with `dat train --job` and an
 * attacker process (attacker.ts, over HTTP) submits that run again from two more staked wallets,
 * plus a free-rider (the public previous global update), a zero delta, a noise delta and a reset
 * delta claiming 10⁹ samples. `dat round start` closes and settles it on chain.
 *
 * The job uses the robust strategy (Multi-Krum with server momentum), as the README recommends under attack
 * (the comparison below measured, before it, FedAvg and centered clipping):
 * with FedAvg the bounded weights still hold the reset to 2 × the median claim, but the zero,
 * free-ride and noise deltas are aggregated at full weight (scores are computed after the
 * aggregate): measured here, the attacked round lost 2.8 points against its honest-only
 * counterpart (32.2% → 29.4%; 4.5 points on a 200-sample validation set), centered clipping 2.0.
 *
 * Asserted from the processes' --json outputs and the chain: the round publishes; the attacked
 * model's validation accuracy is within 3 points of the honest-only aggregate of the same round
 * (rebuilt here from the honest contributors' own delta files); every attacker earns 0 except the
 * copies, which share at most one honest share; honest contributors are paid; honest stakes are
 * unchanged on chain; the copies, the zero and the free-rider are slashed once, and
 * `dat round verify` matches the chain's Slashed events with the operator's evidence.
 */
import fs from "node:fs";
import path from "node:path";
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPublicClient, http, type Address } from "viem";
import { syntheticDigits } from "../../src/train/data/synthetic.js";
import { subsetSource } from "../../src/train/data/source.js";
import { writeValidationCsv } from "../../src/demo/data.js";
import { getStake, readSlashes } from "../../src/chain/staking.js";
import { ENV, ROOT, e2eProcesses, waitFor, type Home } from "../e2e/processes.js";
import type { AttackPlan, AttackerKind } from "./attacker.js";

const { tmp, dat, datJson, startDaemon, initHome, stopAll } = e2eProcesses("dat-adv-net-");

const STAKE = 10n * 10n ** 18n;
const REWARD = 100n * 10n ** 18n;
const SHARD = 240;

interface RoundStatus {
  round: number;
  state: string;
  baseModelCid: string;
  modelCid: string;
  metrics: { accuracy: number; strategy: string; flagged?: Record<string, number>; slashes?: number };
  submissions: { address: string; score: number; status: string; sampleCount: number }[];
}

/** Runs attacker.ts as its own node process; resolves with its receipts. */
function runAttacker(plan: AttackPlan): Promise<{ round: number; receipts: { address: string; attack: string; accepted: number }[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(__dirname, "attacker.ts"), JSON.stringify(plan)], {
      cwd: ROOT, env: ENV, stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 180_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(stdout));
      else reject(new Error(`attacker exited ${code}\n${stderr}`));
    });
  });
}

/** A training run's delta manifest in a contributor's home (runs/<id>/delta.json). */
function deltaOf(home: string, runId: string): string {
  return path.join(home, "runs", runId, "delta.json");
}

/**
 * Writes `base + mean(deltas)` (weighted by claims) as a tfjs folder, read and written with the
 * tfjs weights format directly: the honest-only counterfactual, computed without dat's aggregation.
 */
function readWeights(dir: string): { model: { weightsManifest: { paths: string[]; weights: { name: string; shape: number[] }[] }[] }; weights: Float32Array } {
  const model = JSON.parse(fs.readFileSync(path.join(dir, "model.json"), "utf8")) as {
    weightsManifest: { paths: string[]; weights: { name: string; shape: number[] }[] }[];
  };
  const bin = fs.readFileSync(path.join(dir, model.weightsManifest[0].paths[0]));
  return { model, weights: new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength)) };
}

/**
 * base + β·(base − previous base) + the sample-weighted mean of the honest deltas: what the robust
 * strategy's server momentum (β, server-lr 1) makes of a round whose aggregate is the honest mean,
 * the previous round's aggregate being base − previous base (all of round 1 was honest).
 */
function writeHonestAggregate(
  baseDir: string, deltas: { manifest: string; weight: number }[], outDir: string, momentum?: { previousDir: string; beta: number },
): void {
  const { model, weights } = readWeights(baseDir);
  const group = model.weightsManifest[0];
  if (momentum) {
    const previous = readWeights(momentum.previousDir).weights;
    expect(previous.length).toBe(weights.length);
    for (let i = 0; i < weights.length; i++) weights[i] += momentum.beta * (weights[i] - previous[i]);
  }
  const offsets = new Map<string, number>();
  let at = 0;
  for (const w of group.weights) {
    offsets.set(w.name, at);
    at += w.shape.reduce((a, b) => a * b, 1);
  }
  expect(at).toBe(weights.length);
  const total = deltas.reduce((s, d) => s + d.weight, 0);
  for (const d of deltas) {
    const manifest = JSON.parse(fs.readFileSync(d.manifest, "utf8")) as { file: string; weights: { name: string; offset: number; length: number }[] };
    const data = fs.readFileSync(path.join(path.dirname(d.manifest), manifest.file));
    for (const w of manifest.weights) {
      const values = new Float32Array(data.buffer.slice(data.byteOffset + w.offset, data.byteOffset + w.offset + w.length * 4));
      const start = offsets.get(w.name);
      expect(start, w.name).toBeDefined();
      for (let j = 0; j < values.length; j++) weights[start! + j] += (d.weight / total) * values[j];
    }
  }
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, "model.json"), JSON.stringify(model));
  fs.writeFileSync(path.join(outDir, group.paths[0]), new Uint8Array(weights.buffer));
}

describe("every attack at once against dat serve and a devnet", () => {
  let operator: Home;
  let honest: Home[];
  let sybils: Home[];
  let attackers: { home: Home; attack: AttackerKind }[];
  let devnet: { url: string; staking: string };
  let orchestratorUrl: string;
  const validation = () => path.join(operator.home, "validation.csv");

  beforeAll(async () => {
    operator = await initHome("operator");
    const started = await startDaemon<typeof devnet>(["--home", operator.home, "devnet", "--port", "0"]);
    devnet = started.ready;
    orchestratorUrl = (await startDaemon<{ url: string }>(["--home", operator.home, "serve", "--port", "0"])).ready.url;

    const names = ["h1", "h2", "h3", "sybil1", "sybil2", "sybil3", "freerider", "zero", "noise", "inflater"];
    const homes: Home[] = [];
    for (let i = 0; i < names.length; i += 2) homes.push(...(await Promise.all(names.slice(i, i + 2).map(initHome))));
    honest = homes.slice(0, 3);
    sybils = homes.slice(3, 6);
    attackers = [
      { home: sybils[1], attack: "copy" }, { home: sybils[2], attack: "copy" }, { home: homes[6], attack: "free-ride" },
      { home: homes[7], attack: "zero" }, { home: homes[8], attack: "noise" }, { home: homes[9], attack: "inflate" },
    ];

    const all = syntheticDigits({ count: SHARD * 4, seed: 11 });
    for (const [i, h] of [...honest, sybils[0]].entries()) {
      await writeValidationCsv(subsetSource(all, Array.from({ length: SHARD }, (_, k) => i * SHARD + k)), path.join(h.home, "shard.csv"));
    }
    // 500 samples: accuracy in steps of 0.2 points, fine enough for a 3-point bound.
    await writeValidationCsv(syntheticDigits({ count: 500, seed: 12 }), validation());

    const job = await datJson<{ id: number }>([
      "--home", operator.home, "job", "create", "--model", path.join(ROOT, "fixtures", "mlp-digits"),
      "--rounds", "2", "--min-contributors", "3", "--epochs", "1", "--batch-size", "32", "--lr", "0.05", "--strategy", "robust",
      "--reward", "100", "--min-stake", "10", "--validation", validation(), "--label-column", "label",
    ]);
    expect(job.id).toBe(1);
    // Every wallet joins, gets gas and 10 DAT (minted one after another: one operator nonce), and stakes.
    for (let i = 0; i < homes.length; i += 2) await Promise.all(homes.slice(i, i + 2).map((h) => datJson(["--home", h.home, "join", orchestratorUrl])));
    for (const h of homes) await datJson(["--home", operator.home, "devnet", "fund", "--address", h.address, "--eth", "1", "--tokens", "10"]);
    for (let i = 0; i < homes.length; i += 2) {
      await Promise.all(homes.slice(i, i + 2).map(async (h) => {
        const registered = await datJson<{ stake: { stake: string; minStake: string } }>(["--home", h.home, "node", "register", "--stake", "10", "--job", "1"]);
        expect(BigInt(registered.stake.stake)).toBe(STAKE);
      }));
    }
  }, 600_000);

  afterAll(stopAll);

  const stakeOf = async (address: string) => {
    const client = createPublicClient({ transport: http(devnet.url) });
    return (await getStake(client as never, { staking: devnet.staking as Address, jobId: "1", account: address as Address })).stake;
  };

  const status = (round: number) => datJson<RoundStatus>(["--home", operator.home, "round", "status", "--job", "1", "--round", String(round)]);

  /** Opens the round, lets `submit` run to completion, then `dat round start` resumes it: close, aggregate, settle. */
  async function runRound(round: number, submit: () => Promise<void>) {
    const opened = await datJson<{ round: number }>(["--home", operator.home, "round", "open", "--job", "1"]);
    expect(opened.round).toBe(round);
    await submit();
    const closed = await dat(["--json", "--home", operator.home, "round", "start", "--job", "1"], { timeoutMs: 240_000 });
    expect(closed.code, closed.stderr).toBe(0);
    const result = JSON.parse(closed.stdout) as { round: number; state: string; settlement: { status: string } };
    expect(result.round).toBe(round);
    expect(result.state).toBe("published");
    expect(result.settlement.status).toBe("published");
    return status(round);
  }

  const train = (h: Home) =>
    datJson<{ runId: string; sampleCount: number; pushed: boolean }>(
      ["--home", h.home, "train", "--job", "1", "--data", path.join(h.home, "shard.csv"), "--label-column", "label"], { timeoutMs: 240_000 });

  it("closes the round, is not dominated, pays only honest work, and slashes only the provable cheats", async () => {
    // Round 1: honest only; its published update is the public information the free-rider replays.
    const r1 = await runRound(1, async () => {
      for (const run of await Promise.all(honest.map(train))) expect(run.pushed).toBe(true);
    });
    const stakesBefore = new Map<string, bigint>();
    for (const h of [...honest, ...sybils, ...attackers.map((a) => a.home)]) stakesBefore.set(h.address.toLowerCase(), await stakeOf(h.address));

    let honestRuns: { runId: string; sampleCount: number }[] = [];
    const r2 = await runRound(2, async () => {
      const [runs, sybilRun] = await Promise.all([Promise.all(honest.map(train)), train(sybils[0])]);
      honestRuns = runs;
      const attack = await runAttacker({
        url: orchestratorUrl, jobId: 1, source: deltaOf(sybils[0].home, sybilRun.runId), sampleCount: sybilRun.sampleCount,
        attackers: attackers.map((a) => ({ home: a.home.home, attack: a.attack })),
      });
      expect(attack.round).toBe(2);
      expect(attack.receipts).toHaveLength(attackers.length);
      await waitFor("ten submissions in round 2", async () => ((await status(2)).submissions.length === 10 ? true : undefined), 60_000);
    });

    // Not dominated: the attacked model against the honest-only aggregate of the same round.
    const honestDir = path.join(tmp, "honest-only");
    // The robust strategy carries server momentum: round 2's model adds β × round 1's update.
    const { ROBUST_STRATEGY } = await import("../../src/core/aggregate/index.js");
    writeHonestAggregate(
      path.join(honest[0].home, "models", r2.baseModelCid),
      honestRuns.map((r, i) => ({ manifest: deltaOf(honest[i].home, r.runId), weight: r.sampleCount })),
      honestDir,
      { previousDir: path.join(honest[0].home, "models", r1.baseModelCid), beta: Number(ROBUST_STRATEGY.params.momentum) },
    );
    const evalArgs = ["--data", validation(), "--label-column", "label"];
    const honestOnly = await datJson<{ accuracy: number }>(["--home", operator.home, "model", "eval", "--model", honestDir, ...evalArgs]);
    const attacked = await datJson<{ accuracy: number }>(["--home", operator.home, "model", "eval", "--job", "1", ...evalArgs]);
    expect(attacked.accuracy).toBeCloseTo(r2.metrics.accuracy, 6);

    // Payouts, per participant, as each wallet's `dat rewards` reports them.
    const earned = new Map<string, bigint>();
    for (const h of [...honest, ...sybils, ...attackers.slice(2).map((a) => a.home)]) {
      const report = await datJson<{ rounds: { round: number; amount: string }[] }>(["--home", h.home, "rewards", "--job", "1"]);
      earned.set(h.name, BigInt(report.rounds.find((x) => x.round === 2)?.amount ?? "0"));
    }
    const verify = await datJson<{ ok: boolean; chain: { checks: { what: string; ok: boolean; detail: string }[] } }>(
      ["--home", operator.home, "round", "verify", "--job", "1", "--round", "2"]);
    const stakesAfter = new Map<string, bigint>();
    for (const address of stakesBefore.keys()) stakesAfter.set(address, await stakeOf(address));
    const byAddress = new Map([...honest, ...sybils, ...attackers.map((a) => a.home)].map((h) => [h.address.toLowerCase(), h.name]));
    console.log(JSON.stringify({
      accuracy: { honestOnly: honestOnly.accuracy, attacked: attacked.accuracy, round1: (await status(1)).metrics.accuracy, strategy: r2.metrics.strategy },
      metrics: r2.metrics,
      earnedRound2: Object.fromEntries([...earned].map(([k, v]) => [k, Number(v) / 1e18])),
      stakes: Object.fromEntries([...stakesBefore].map(([a, v]) => [byAddress.get(a), { before: Number(v) / 1e18, after: Number(stakesAfter.get(a)) / 1e18 }])),
      verify: verify.chain.checks,
    }));

    expect(r2.submissions).toHaveLength(10);
    expect(Math.abs(attacked.accuracy - honestOnly.accuracy) * 100).toBeLessThan(3);
    // What the close found: the three copies, the zero and the exact free-ride (noise and the reset are statistical).
    expect(r2.metrics.flagged).toMatchObject({ duplicate: 3, zero: 1, "free-ride": 1 });

    const honestPay = honest.map((h) => earned.get(h.name)!);
    for (const pay of honestPay) expect(pay).toBeGreaterThan(0n);
    const sybilTotal = sybils.reduce((s, h) => s + earned.get(h.name)!, 0n);
    expect(sybilTotal).toBeLessThanOrEqual(honestPay.reduce((a, b) => (a > b ? a : b)));
    // Free-ride, zero and noise earn nothing; the inflated reset earns under 1% of the round (issue
    // 13: its claim buys no weight, and its statistical flag can fall either side of the cut-off).
    for (const a of attackers.slice(2)) {
      if (a.attack === "inflate") expect(earned.get(a.home.name)! * 100n, a.attack).toBeLessThan(REWARD);
      else expect(earned.get(a.home.name), a.attack).toBe(0n);
    }
    const paid = [...earned.values()].reduce((a, b) => a + b, 0n);
    expect(paid).toBeLessThanOrEqual(REWARD);

    // Stakes: honest untouched; copies, zero and exact free-ride slashed to 0; noise and inflate keep theirs.
    for (const h of honest) expect(stakesAfter.get(h.address.toLowerCase())).toBe(STAKE);
    const slashed = [...sybils, ...attackers.filter((a) => a.attack === "zero" || a.attack === "free-ride").map((a) => a.home)];
    for (const h of slashed) expect(stakesAfter.get(h.address.toLowerCase()), h.name).toBe(0n);
    for (const a of attackers.filter((x) => x.attack === "noise" || x.attack === "inflate")) expect(stakesAfter.get(a.home.address.toLowerCase())).toBe(STAKE);
    expect(r2.metrics.slashes).toBe(slashed.length);
    // Once each: one Slashed event per cheat in the whole job, all in round 2, each for its whole stake.
    const client = createPublicClient({ transport: http(devnet.url) });
    const events = await readSlashes(client as never, { staking: devnet.staking as Address, fromBlock: 0, jobId: "1" });
    expect(events.map((e) => e.account.toLowerCase()).sort()).toEqual(slashed.map((h) => h.address.toLowerCase()).sort());
    for (const e of events) {
      expect(e.round).toBe(2);
      expect(e.amount).toBe(STAKE);
    }
    expect(verify.ok, JSON.stringify(verify)).toBe(true);
    expect(verify.chain.checks.some((c) => /slash/i.test(c.what))).toBe(true);
  }, 900_000);
});
