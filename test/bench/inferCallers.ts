/**
 * The callers of the inference benchmark, in a worker thread: they load the server from another
 * core, as remote clients would, instead of sharing its event loop. Each message { mode, seconds }
 * runs one measurement and answers with its figures.
 */
import { parentPort, workerData } from "node:worker_threads";
import { performance } from "node:perf_hooks";
import { Pool } from "undici";
import { privateKeyToAccount } from "viem/accounts";
import { signChallenge, type ChallengeTypedData } from "../../src/inference/challenge.js";

const { url, input, jobs, sessions, keys } = workerData as {
  url: string;
  input: number[];
  jobs: { open: number; gated: number };
  sessions: string[];
  keys: `0x${string}`[];
};
const accounts = keys.map((k) => privateKeyToAccount(k));
const pool = new Pool(url, { connections: accounts.length, pipelining: 1 });
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function call(method: "GET" | "POST", p: string, body?: unknown, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const res = await pool.request({ method, path: p, headers: body === undefined ? headers : { ...headers, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = (await res.body.json()) as Record<string, unknown>;
  if (res.statusCode !== 200) throw new Error(`${method} ${p}: ${res.statusCode} ${JSON.stringify(json)}`);
  return json;
}

const modes: Record<string, (i: number) => Promise<unknown>> = {
  open: () => call("POST", `/jobs/${jobs.open}/infer`, { inputs: input }),
  gated: (i) => call("POST", `/jobs/${jobs.gated}/infer`, { inputs: input }, { authorization: `Bearer ${sessions[i]}` }),
  "per-req": async (i) => {
    const challenge = await signChallenge(accounts[i], (await call("GET", `/jobs/${jobs.gated}/challenge`)) as unknown as ChallengeTypedData);
    return call("POST", `/jobs/${jobs.gated}/infer`, { inputs: input, challenge });
  },
};

async function measure(mode: string, seconds: number) {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(accounts.map(async (_, i) => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        await modes[mode](i);
        latencies.push(performance.now() - t0);
      } catch (error) {
        errors++;
        firstError ??= String(error);
      }
    }
  }));
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return { rps: latencies.length / elapsed, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), requests: latencies.length, errors, firstError };
}

parentPort!.on("message", (msg: { mode: string; seconds: number } | "close") => {
  if (msg === "close") {
    void pool.close().then(() => process.exit(0));
    return;
  }
  void measure(msg.mode, msg.seconds).then((figures) => parentPort!.postMessage(figures));
});
parentPort!.postMessage("ready");
