/**
 * `npm run bench -- round [contributors=200] [repeats=3]`: a simulated round on loopback.
 *
 * The orchestrator is a real `dat serve` child process. The contributors' deltas are trained
 * beforehand (one real local training of the fixture MLP, 1 epoch, gives the delta and the
 * training time T_train; each contributor sends a scaled copy), so the round measures what the
 * orchestrator adds: 200 contributors (worker threads, 4 of them, 50 contributors each) seal,
 * sign and POST concurrently; the operator then closes the round (FedAvg, scores, publish).
 *
 * Figures: round wall time (open → published), the orchestrator process's CPU time over the round
 * (read from /proc), and its share of the round's wall time when each contributor trains for
 * T_train in parallel: share = orchestrator CPU / (T_train + round wall). The target is ≤ 5%.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { Worker } from "node:worker_threads";
import { fileURLToPath, pathToFileURL } from "node:url";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const TOKEN = "bench-operator-token-0123456789";

function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  return ticks / 100;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function startServe(home: string, env: NodeJS.ProcessEnv): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(root, "src/cli/main.ts"), "--home", home, "--json", "serve", "--port", "0"], { env, cwd: root });
  return new Promise((resolve, reject) => {
    let err = "";
    child.stderr!.on("data", (d) => {
      err += d;
      const m = /\{"event":"ready","url":"([^"]+)"/.exec(err);
      if (m) resolve({ url: m[1], child });
    });
    child.on("exit", (code) => reject(new Error(`dat serve exited (${code}):\n${err}`)));
  });
}

export default async function run(args: string[]): Promise<void> {
  const contributors = Number(args[0] ?? 200);
  const repeats = Number(args[1] ?? 3);
  const workers = 4;
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "dat-bench-round-"));
  const env = { ...process.env, DAT_OPERATOR_TOKEN: TOKEN, DAT_SCRYPT_N: "1024" };
  const { buildFixtureModel, packModel, syntheticTabular, trainLocal, getWeightTensors } = await import("../../src/train/index.js");
  const { createHttpOrchestrator } = await import("../../src/orchestrator/http/client.js");
  const { buildRegistration } = await import("../../src/orchestrator/submission.js");

  // One real local training: the delta every simulated contributor sends, and T_train.
  const model = buildFixtureModel("mlp-tabular", 3);
  const packed = await packModel(model);
  const t0 = performance.now();
  const trained = await trainLocal({ model, data: syntheticTabular({ count: 500, seed: 1 }), epochs: 1, batchSize: 16, lr: 0.05 });
  const trainSeconds = (performance.now() - t0) / 1000;
  const delta = trained.delta.map((d) => ({ name: d.name, shape: d.shape, data: d.data }));
  void getWeightTensors;
  model.dispose();

  const { child, url } = await startServe(home, env);
  const orch = createHttpOrchestrator({ url, operatorToken: TOKEN });
  const rows: { round: number; accepted: number; wall: number; cpu: number; submitWall: number; closeWall: number; share: number }[] = [];
  try {
    const job = await orch.createJob({
      rounds: repeats, minContributors: contributors, deadlineSeconds: 3600,
      hyper: { epochs: 1, batchSize: 16, lr: 0.05, optimizer: "sgd" }, strategy: "fedavg", encoding: "float32",
    }, packed);
    const keys = Array.from({ length: contributors }, () => generatePrivateKey());
    for (const k of keys) await orch.registerNode(await buildRegistration(privateKeyToAccount(k), "cpu", {}));

    for (let r = 1; r <= repeats; r++) {
      const cpu0 = cpuSeconds(child.pid!);
      const w0 = performance.now();
      const round = await orch.openRound(job.id);
      const per = Math.ceil(contributors / workers);
      const results = await Promise.all(Array.from({ length: workers }, (_, w) => new Promise<{ ok: number; failed: string[] }>((resolve, reject) => {
        // A worker cannot take the tsx loader from execArgv on Node 20: register it, then import the TS entry.
        const entry = pathToFileURL(path.join(here, "roundWorker.ts")).href;
        const worker = new Worker(`import("tsx/esm/api").then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`, {
          eval: true,
          workerData: { url, round, delta, keys: keys.slice(w * per, (w + 1) * per) },
        });
        worker.once("message", resolve);
        worker.once("error", reject);
      })));
      const w1 = performance.now();
      const closed = await orch.closeRound(job.id);
      const w2 = performance.now();
      const cpu = cpuSeconds(child.pid!) - cpu0;
      const wall = (w2 - w0) / 1000;
      const accepted = results.reduce((s, x) => s + x.ok, 0);
      const failures = results.flatMap((x) => x.failed);
      if (accepted !== contributors || closed.state !== "published" || closed.scores.length !== contributors) {
        throw new Error(`round ${r}: ${accepted}/${contributors} acknowledged, ${closed.scores.length} aggregated, state ${closed.state}; ${failures.slice(0, 3).join("; ")}`);
      }
      rows.push({ round: r, accepted, wall, cpu, submitWall: (w1 - w0) / 1000, closeWall: (w2 - w1) / 1000, share: cpu / (trainSeconds + wall) });
    }
  } finally {
    await orch.close();
    child.kill("SIGTERM");
    fs.rmSync(home, { recursive: true, force: true });
  }
  console.log(`round benchmark: ${contributors} contributors on loopback, fixture mlp-tabular, T_train = ${trainSeconds.toFixed(2)} s (one real local epoch)`);
  console.log("round  accepted  wall s  submit phase s  close s  orchestrator CPU s  share of (T_train + wall)");
  for (const x of rows) {
    console.log(`${String(x.round).padEnd(6)} ${String(x.accepted).padEnd(9)} ${x.wall.toFixed(2).padEnd(7)} ${x.submitWall.toFixed(2).padEnd(15)} ${x.closeWall.toFixed(3).padEnd(8)} ${x.cpu.toFixed(2).padEnd(19)} ${(x.share * 100).toFixed(1)}%`);
  }
  console.log(JSON.stringify({
    bench: "round", contributors, trainSeconds: +trainSeconds.toFixed(3),
    wallSecondsMedian: +median(rows.map((x) => x.wall)).toFixed(3),
    closeSecondsMedian: +median(rows.map((x) => x.closeWall)).toFixed(3),
    orchestratorCpuSecondsMedian: +median(rows.map((x) => x.cpu)).toFixed(3),
    orchestratorShareMedian: +median(rows.map((x) => x.share)).toFixed(4),
    orchestratorCpuMsPerSubmission: +((median(rows.map((x) => x.cpu)) * 1000) / contributors).toFixed(2),
    // How long contributors must train (in parallel) for the orchestrator's CPU to be ≤ 5% of the round.
    trainSecondsFor5Percent: +Math.max(0, median(rows.map((x) => x.cpu)) / 0.05 - median(rows.map((x) => x.wall))).toFixed(1),
    allAccountedFor: rows.every((x) => x.accepted === contributors),
  }));
}
