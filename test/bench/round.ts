/**
 * `npm run bench -- round [contributors=200] [repeats=3]`: a simulated round on loopback.
 *
 * The orchestrator is a real `dat serve` child process. The contributors' deltas are trained
 * beforehand (one real local training of the fixture MLP, 1 epoch, gives the delta and the
 * training time T_train; each contributor sends a scaled copy), so the round measures what the
 * orchestrator adds: the contributors (worker threads, 4 of them) seal and sign, then all POST at
 * once (as when everyone trained equally long); the operator then closes the round (FedAvg,
 * scores, publish). Every round checks that all submissions are accounted for: each one
 * acknowledged, aggregated and scored.
 *
 * What the figures mean. In a real round every contributor trains on its own machine, in
 * parallel, for about T_train, then seals, signs and uploads its delta (S, measured here alone,
 * on an idle loopback); the submissions therefore reach the orchestrator together, and one core
 * serialises them. The time the orchestrator adds to the round — its critical path — is
 *   X = (orchestrator CPU while the round collects, all threads, read from /proc) + (close wall time)
 * and its share of the round is
 *   share = X / (T_train + S + X).
 * The target is ≤ 5%: T_train ≥ 19·X − S. The CPU figure is an upper bound of the collecting part
 * (work the thread pool does in parallel, such as fsync, is counted as if serial). The simulated
 * contributors seal before the uploads start, so that their CPU does not compete with the
 * orchestrator's while it is measured; they still run the HTTP clients on this box, so the upload
 * phase's wall time is printed but not used.
 * The CPU the orchestrator spends on registrations (once per node, not per round) is printed apart.
 *
 * All contributors register from 127.0.0.1, so the bench's home raises the free-registration caps
 * (config orchestrator.maxNodesPerIp, .maxNodes, .registrationsPerMinute) above `contributors`
 * before `dat serve` starts: the defaults (16 per IP, 30 per minute) would refuse most of them.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { Worker } from "node:worker_threads";
import { fileURLToPath, pathToFileURL } from "node:url";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { median } from "./stats.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const TOKEN = "bench-operator-token-0123456789";
const TARGET_SHARE = 0.05;

function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  return ticks / 100;
}

async function startServe(home: string, env: NodeJS.ProcessEnv): Promise<{ url: string; child: ChildProcess }> {
  const prof = process.env.DAT_BENCH_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.DAT_BENCH_PROF}`] : [];
  const child = spawn(process.execPath, [...prof, "--import", "tsx", path.join(root, "src/cli/main.ts"), "--home", home, "--json", "serve", "--port", "0"], { env, cwd: root });
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

interface RoundWorker {
  worker: Worker;
  /** Resolves with the worker's tally once its contributors have all had an answer. */
  done: Promise<{ ok: number; failed: string[] }>;
}

interface RoundRow {
  round: number;
  accepted: number;
  /** First upload → last acknowledgement, wall (depends on the simulated contributors: informative only). */
  submitWall: number;
  /** Orchestrator CPU from open to the last acknowledgement (it idles while the contributors seal). */
  submitCpu: number;
  closeWall: number;
  /** X: submitCpu + closeWall. */
  critical: number;
  share: number;
}

export default async function run(args: string[]): Promise<void> {
  const contributors = Number(args[0] ?? 200);
  const repeats = Number(args[1] ?? 3);
  const workers = 4;
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "dat-bench-round-"));
  const env = { ...process.env, DAT_OPERATOR_TOKEN: TOKEN, DAT_SCRYPT_N: "1024" };
  const { buildFixtureModel, packModel, syntheticTabular, trainLocal } = await import("../../src/train/index.js");
  const { createHttpOrchestrator } = await import("../../src/orchestrator/http/client.js");
  const { buildRegistration, buildSubmission } = await import("../../src/contributor/submission.js");
  const { generateRoundKeyPair } = await import("../../src/crypto/hpke.js");
  const { bytesToHex } = await import("../../src/orchestrator/deps.js");
  const { setConfigValue } = await import("../../src/config/write.js");
  for (const key of ["maxNodes", "maxNodesPerIp", "registrationsPerMinute"]) {
    await setConfigValue(home, `orchestrator.${key}`, contributors + 10);
  }
  type RoundInfo = import("../../src/orchestrator/types.js").RoundInfo;

  // One real local training (after a warm-up one, so that backend start-up is not counted): the
  // delta every simulated contributor sends, and T_train.
  const data = syntheticTabular({ count: 500, seed: 1 });
  const warm = buildFixtureModel("mlp-tabular", 3);
  await trainLocal({ model: warm, data, epochs: 1, batchSize: 16, lr: 0.05 });
  warm.dispose();
  const model = buildFixtureModel("mlp-tabular", 3);
  const packed = await packModel(model);
  const t0 = performance.now();
  const trained = await trainLocal({ model, data, epochs: 1, batchSize: 16, lr: 0.05 });
  const trainSeconds = (performance.now() - t0) / 1000;
  const delta = trained.delta.map((d) => ({ name: d.name, shape: d.shape, data: d.data }));
  model.dispose();

  const { child, url } = await startServe(home, env);
  const orch = createHttpOrchestrator({ url, operatorToken: TOKEN });
  const rows: RoundRow[] = [];
  let registrationCpu = 0;
  let contributorSeconds = 0;
  let sealedBytes = 0;
  try {
    const job = await orch.createJob({
      rounds: repeats, minContributors: contributors, deadlineSeconds: 3600,
      hyper: { epochs: 1, batchSize: 16, lr: 0.05, optimizer: "sgd" }, strategy: "fedavg", encoding: "float32",
    }, packed);
    const keys = Array.from({ length: contributors }, () => generatePrivateKey());
    const registrations = await Promise.all(keys.map((k) => buildRegistration(privateKeyToAccount(k), "cpu", {})));
    const reg0 = cpuSeconds(child.pid!);
    for (const r of registrations) await orch.registerNode(r);
    registrationCpu = cpuSeconds(child.pid!) - reg0;

    // S: one contributor alone sealing, signing and uploading its delta (the upload is a POST of
    // the sealed bytes that the server refuses at once, for want of the signed header).
    const kp = await generateRoundKeyPair();
    const probeRound = {
      jobId: job.id, round: 1, publicKey: bytesToHex(kp.publicKey), fingerprint: job.fingerprint, encoding: job.encoding,
    } as RoundInfo;
    const probeAccount = privateKeyToAccount(generatePrivateKey());
    const probes: number[] = [];
    for (let i = 0; i < 21; i++) {
      const p0 = performance.now();
      const built = await buildSubmission({ account: probeAccount, round: probeRound, tensors: delta, sampleCount: 100 });
      const res = await fetch(`${url}/jobs/${job.id}/rounds/999999/submissions`, {
        method: "POST", headers: { "content-type": "application/octet-stream" }, body: built.sealed,
      });
      await res.arrayBuffer();
      if (res.status !== 400) throw new Error(`upload probe: expected a 400, got ${res.status}`);
      probes.push((performance.now() - p0) / 1000);
      sealedBytes = built.sealed.length;
    }
    contributorSeconds = median(probes.slice(1));

    for (let r = 1; r <= repeats; r++) {
      const cpu0 = cpuSeconds(child.pid!);
      const round = await orch.openRound(job.id);
      const per = Math.ceil(contributors / workers);
      // Every worker seals and signs its contributors' deltas, then waits; all upload on "go".
      const started = await Promise.all(Array.from({ length: workers }, (_, w) => new Promise<RoundWorker>((resolve, reject) => {
        // A worker cannot take the tsx loader from execArgv on Node 20: register it, then import the TS entry.
        const entry = pathToFileURL(path.join(here, "roundWorker.ts")).href;
        const worker = new Worker(`import("tsx/esm/api").then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`, {
          eval: true,
          workerData: { url, round, delta, keys: keys.slice(w * per, (w + 1) * per) },
        });
        worker.once("error", reject);
        worker.once("message", () => resolve({
          worker,
          done: new Promise((done, failed) => {
            worker.once("message", done);
            worker.once("error", failed);
          }),
        }));
      })));
      const w0 = performance.now();
      for (const { worker } of started) worker.postMessage("go");
      const results = await Promise.all(started.map((x) => x.done));
      const w1 = performance.now();
      const submitCpu = cpuSeconds(child.pid!) - cpu0;
      const closed = await orch.closeRound(job.id);
      const closeWall = (performance.now() - w1) / 1000;
      const accepted = results.reduce((s, x) => s + x.ok, 0);
      const failures = results.flatMap((x) => x.failed);
      const status = await orch.roundStatus(job.id, round.round);
      const aggregated = status.submissions.filter((x) => x.status === "aggregated").length;
      if (accepted !== contributors || closed.state !== "published" || closed.scores.length !== contributors || aggregated !== contributors) {
        throw new Error(`round ${r}: ${accepted}/${contributors} acknowledged, ${closed.scores.length} scored, ${aggregated} aggregated, `
          + `state ${closed.state}; ${failures.slice(0, 3).join("; ")}`);
      }
      const critical = submitCpu + closeWall;
      rows.push({
        round: r, accepted, submitWall: (w1 - w0) / 1000, submitCpu, closeWall, critical,
        share: critical / (trainSeconds + contributorSeconds + critical),
      });
    }
  } finally {
    await orch.close();
    child.kill("SIGTERM");
    fs.rmSync(home, { recursive: true, force: true });
  }

  const med = (f: (x: RoundRow) => number) => median(rows.map(f));
  const critical = med((x) => x.critical);
  const perSubmissionMs = (med((x) => x.submitCpu) * 1000) / contributors;
  console.log(`round benchmark: ${contributors} contributors on loopback, fixture mlp-tabular (sealed delta ${sealedBytes} bytes)`);
  console.log(`  T_train = ${trainSeconds.toFixed(3)} s (one real local epoch), S = ${(contributorSeconds * 1000).toFixed(1)} ms `
    + `(one contributor's seal + sign + upload), registration: ${((registrationCpu * 1000) / contributors).toFixed(2)} ms orchestrator CPU per node`);
  console.log("round  accepted  submit wall s  orchestrator CPU s  CPU ms/submission  close s  X = CPU + close s  share X/(T_train+S+X)");
  for (const x of rows) {
    console.log(`${String(x.round).padEnd(6)} ${String(x.accepted).padEnd(9)} ${x.submitWall.toFixed(2).padEnd(14)} ${x.submitCpu.toFixed(2).padEnd(19)} `
      + `${((x.submitCpu * 1000) / contributors).toFixed(2).padEnd(18)} ${x.closeWall.toFixed(3).padEnd(8)} ${x.critical.toFixed(3).padEnd(18)} ${(x.share * 100).toFixed(1)}%`);
  }
  const breakEven = Math.max(0, critical / TARGET_SHARE - critical - contributorSeconds);
  console.log(`median: ${perSubmissionMs.toFixed(2)} ms CPU per submission, X = ${critical.toFixed(3)} s, share ${(med((x) => x.share) * 100).toFixed(1)}%; `
    + `the share is ${TARGET_SHARE * 100}% when contributors train ${breakEven.toFixed(1)} s`);
  console.log(JSON.stringify({
    bench: "round", contributors, trainSeconds: +trainSeconds.toFixed(3),
    contributorSealSignUploadSeconds: +contributorSeconds.toFixed(4),
    registrationCpuMsPerNode: +((registrationCpu * 1000) / contributors).toFixed(2),
    submitWallSecondsMedian: +med((x) => x.submitWall).toFixed(3),
    orchestratorCpuSecondsMedian: +med((x) => x.submitCpu).toFixed(3),
    orchestratorCpuMsPerSubmission: +perSubmissionMs.toFixed(2),
    closeSecondsMedian: +med((x) => x.closeWall).toFixed(3),
    criticalPathSecondsMedian: +critical.toFixed(3),
    orchestratorShareMedian: +med((x) => x.share).toFixed(4),
    // How long contributors must train (in parallel) for the orchestrator's share to be ≤ 5%.
    trainSecondsFor5Percent: +breakEven.toFixed(1),
    allAccountedFor: rows.length === repeats && rows.every((x) => x.accepted === contributors),
  }));
}
