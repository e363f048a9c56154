/**
 * The whole network as users run it, each role a separate process of the built CLI:
 * the operator's `dat devnet` and `dat serve`, three contributors each with its own --home
 * (`dat init`, `dat node register`, `dat train --job 1`), the operator's `dat job create` and two
 * `dat round start`, then `dat rewards` / `dat rewards claim` per contributor and `dat infer` by a
 * contributor and an outsider (the job has no --min-stake, so it is public). Assertions read the --json outputs only. No sleeps: long-running
 * processes are waited on through their readiness output, state through polling with deadlines;
 * every process is stopped in afterAll.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticDigits } from "../../src/train/data/synthetic.js";
import { subsetSource } from "../../src/train/data/source.js";
import { writeValidationCsv } from "../../src/demo/data.js";
import { splitRewards } from "../../src/core/rewards/index.js";
import { ROOT, e2eProcesses, waitFor, type Home } from "./processes.js";

const { tmp, dat, datJson, startDaemon, initHome, stopAll } = e2eProcesses("dat-e2e-");

describe("the network end to end, one process per role", () => {
  let operator: Home;
  let contributors: Home[];
  let outsider: Home;
  let devnet: { url: string; chainId: number; token: string; registry: string; distributor: string; blockNumber?: number };
  let orchestratorUrl: string;
  const rounds: { round: number; accuracy: number; scores: { address: string; score: number }[] }[] = [];
  const rewardPerRound = 100n * 10n ** 18n;

  beforeAll(async () => {
    const init = initHome;
    operator = await init("operator");
    contributors = [await init("c1"), await init("c2"), await init("c3")];
    outsider = await init("outsider");

    // The operator's chain: contracts deployed, addresses written into the operator's config.
    const started = await startDaemon<typeof devnet>(["--home", operator.home, "devnet", "--port", "0"]);
    devnet = started.ready;
    // Contributors find the same chain through their own config, and get gas for their claims from `dat devnet fund`.
    const deployments = JSON.stringify({
      [String(devnet.chainId)]: { token: devnet.token, registry: devnet.registry, distributor: devnet.distributor, blockNumber: devnet.blockNumber ?? 0 },
    });
    for (const c of [...contributors, outsider]) {
      await datJson(["--home", c.home, "config", "set", "chain.rpcUrl", devnet.url]);
      await datJson(["--home", c.home, "config", "set", "chain.chainId", String(devnet.chainId)]);
      await datJson(["--home", c.home, "config", "set", "chain.deployments", deployments]);
      const funded = await datJson<{ address: string; chainId: number }>(["--home", c.home, "devnet", "fund", "--address", c.address, "--eth", "1"]);
      expect(funded.address.toLowerCase()).toBe(c.address.toLowerCase());
      expect(funded.chainId).toBe(devnet.chainId);
    }

    // The orchestrator for remote contributors.
    const serve = await startDaemon<{ url: string }>(["--home", operator.home, "serve", "--port", "0"]);
    orchestratorUrl = serve.ready.url;

    // Private shards and the operator's validation set: small digits-like images.
    const all = syntheticDigits({ count: 900, seed: 11 });
    for (const [i, c] of contributors.entries()) {
      await writeValidationCsv(subsetSource(all, Array.from({ length: 240 }, (_, k) => i * 240 + k)), path.join(c.home, "shard.csv"));
    }
    await writeValidationCsv(syntheticDigits({ count: 200, seed: 12 }), path.join(operator.home, "validation.csv"));
    fs.writeFileSync(path.join(tmp, "input.json"), JSON.stringify([Array.from((await firstSample(all)).x)]));
  });

  afterAll(stopAll);

  it("creates a job, runs two rounds with three remote contributors, and accuracy improves", async () => {
    const job = await datJson<{ id: number; gate: unknown; note?: string }>([
      "--home", operator.home, "job", "create",
      "--model", path.join(ROOT, "fixtures", "mlp-digits"),
      "--rounds", "2", "--min-contributors", "3", "--epochs", "1", "--batch-size", "32", "--lr", "0.05",
      "--reward", "100", "--validation", path.join(operator.home, "validation.csv"), "--label-column", "label",
    ]);
    expect(job.id).toBe(1);
    // No --min-stake: registration is free, so the default is no gate, and the command says so.
    expect(job.gate).toBeNull();
    expect(job.note).toMatch(/^public: no --min-stake/);
    for (const c of contributors) {
      await datJson(["--home", c.home, "--orchestrator", orchestratorUrl, "node", "register"]);
    }

    for (const round of [1, 2]) {
      // The operator's round runs until three submissions arrived (or its deadline).
      const roundStart = dat(["--json", "--home", operator.home, "round", "start", "--job", "1"], { timeoutMs: 180_000 });
      await waitFor(`round ${round} collecting`, async () => {
        const run = await dat(["--json", "--home", operator.home, "round", "status", "--job", "1"]);
        if (run.code !== 0) return undefined;
        const status = JSON.parse(run.stdout) as { round: number; state: string };
        return status.round === round && status.state === "collecting" ? status : undefined;
      });
      await Promise.all(
        contributors.map((c) =>
          datJson(["--home", c.home, "--orchestrator", orchestratorUrl, "train", "--job", "1", "--data", path.join(c.home, "shard.csv"), "--label-column", "label"], {
            timeoutMs: 150_000,
          }),
        ),
      );
      const finished = await roundStart;
      expect(finished.code, finished.stderr).toBe(0);
      const status = await datJson<{ state: string; metrics: { accuracy: number }; submissions: { address: string; score: number; status: string }[] }>([
        "--home", operator.home, "round", "status", "--job", "1", "--round", String(round),
      ]);
      expect(status.state).toBe("published");
      expect(status.submissions).toHaveLength(3);
      rounds.push({ round, accuracy: status.metrics.accuracy, scores: status.submissions.map((s) => ({ address: s.address, score: s.score })) });
    }
    expect(rounds[1].accuracy).toBeGreaterThan(rounds[0].accuracy);
  });

  it("pays each contributor by its scores, and claims land in its balance", async () => {
    expect(rounds).toHaveLength(2);
    for (const c of contributors) {
      const report = await datJson<{ earned: string; claimable: string; rounds: { round: number; amount: string; claimed: boolean }[] }>([
        "--home", c.home, "--orchestrator", orchestratorUrl, "rewards", "--job", "1",
      ]);
      for (const r of rounds) {
        const expected = splitRewards(rewardPerRound, r.scores).find((s) => s.address === c.address.toLowerCase())?.amount ?? 0n;
        const entry = report.rounds.find((x) => x.round === r.round);
        expect(BigInt(entry?.amount ?? "0"), JSON.stringify(report)).toBe(expected);
      }
      expect(BigInt(report.claimable)).toBe(BigInt(report.earned));

      const claim = await datJson<{ total: string; balance: string; txHashes: string[] }>([
        "--home", c.home, "--orchestrator", orchestratorUrl, "rewards", "claim", "--job", "1",
      ]);
      expect(BigInt(claim.total)).toBe(BigInt(report.earned));
      expect(BigInt(claim.balance)).toBe(BigInt(report.earned));
      expect(claim.txHashes.length).toBeGreaterThan(0);
    }
  });

  it("answers anyone on a job created without --min-stake: it is public (gated inference: test/inference/cli.test.ts)", async () => {
    const input = path.join(tmp, "input.json");
    for (const who of [contributors[0], outsider]) {
      const answered = await datJson<{ predictions: { class: string; probabilities: number[] }[] }>([
        "--home", who.home, "--orchestrator", orchestratorUrl, "infer", "--job", "1", "--input", input,
      ]);
      expect(answered.predictions).toHaveLength(1);
      expect(answered.predictions[0].probabilities).toHaveLength(10);
    }
  });
});

async function firstSample(source: ReturnType<typeof syntheticDigits>) {
  for await (const sample of source.read()) return sample;
  throw new Error("empty data set");
}
