/**
 * Training speed: the fixture MLP and CNN trained for a fixed number of samples on each tfjs
 * backend that loads here, in samples/s (median of a few repeats after a warm-up). Where
 * `python3 -c "import torch"` works, the same architectures, shapes, batch size and thread count
 * train in PyTorch in the same run, and the ratio tfjs/PyTorch is printed.
 * Args: --samples N (default 2048), --batch N (32), --repeats N (3), --backends wasm,cpu (default: all that load).
 */
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { probeBackends, resolveBackend, type BackendName } from "../../src/train/backends.js";
import { syntheticDigits } from "../../src/train/data/synthetic.js";
import { loadModelDir } from "../../src/train/modelIo.js";
import { trainLocal } from "../../src/train/trainLocal.js";
import { median, numberOption } from "./stats.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const TORCH_SCRIPT = String.raw`
import sys, time, json, torch, torch.nn as nn
torch.set_num_threads(int(sys.argv[4])); torch.manual_seed(0)
kind, samples, batch, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[5])
if kind == "mlp-digits":
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
else:
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16*5*5, 10))
x = torch.rand(samples, 1, 28, 28); y = torch.randint(0, 10, (samples,))
opt = torch.optim.SGD(model.parameters(), lr=0.01); loss_fn = nn.CrossEntropyLoss()
def epoch():
    for i in range(0, samples, batch):
        opt.zero_grad(); loss = loss_fn(model(x[i:i+batch]), y[i:i+batch]); loss.backward(); opt.step()
epoch()
rates, cpu_rates = [], []
for _ in range(repeats):
    t = time.perf_counter(); c = time.process_time(); epoch()
    rates.append(samples / (time.perf_counter() - t)); cpu_rates.append(samples / (time.process_time() - c))
rates.sort(); cpu_rates.sort(); print(json.dumps({"rate": rates[len(rates)//2], "cpuRate": cpu_rates[len(cpu_rates)//2]}))
`;

interface Rate {
  /** Samples per second of wall time. */
  rate: number;
  /** Samples per second of this process's CPU time: what a loaded, shared machine distorts least. */
  cpuRate: number;
}

function torchRate(kind: string, samples: number, batch: number, threads: number, repeats: number): Rate | undefined {
  try {
    const out = execFileSync("/usr/bin/python3", ["-c", TORCH_SCRIPT, kind, String(samples), String(batch), String(threads), String(repeats)], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 600_000,
    });
    return JSON.parse(out.trim().split("\n").pop()!) as Rate;
  } catch {
    return undefined;
  }
}

export default async function run(args: string[]): Promise<void> {
  const samples = numberOption(args, "--samples", 2048);
  const batch = numberOption(args, "--batch", 32);
  const repeats = numberOption(args, "--repeats", 3);
  const reports = await probeBackends();
  const only = args.includes("--backends") ? args[args.indexOf("--backends") + 1].split(",") : undefined;
  const usable = reports.filter((r) => r.available && r.name !== "webgpu" && (!only || only.includes(r.name))).map((r) => r.name);
  for (const r of reports.filter((r) => !r.available)) console.log(`skip ${r.name}: ${r.reason}`);
  const data = syntheticDigits({ count: samples, seed: 1 });
  const rows: { model: string; backend: BackendName | "pytorch"; rate: number; cpuRate: number; ratio?: number; cpuRatio?: number }[] = [];
  const torchAvailable = torchRate("mlp-digits", 64, 32, 1, 1) !== undefined;
  // tfjs-wasm runs one thread in Node; give PyTorch the same.
  const threads = 1;
  for (const model of ["mlp-digits", "cnn-digits"]) {
    const torch = torchAvailable ? torchRate(model, samples, batch, threads, repeats) : undefined;
    for (const backend of usable) {
      // The plain JS backend is very slow on the CNN: measure it on fewer samples.
      const n = backend === "cpu" && model === "cnn-digits" ? Math.min(samples, 256) : samples;
      await resolveBackend(backend);
      const m = await loadModelDir(path.join(root, "fixtures", model));
      const subset = n === samples ? data : syntheticDigits({ count: n, seed: 1 });
      await trainLocal({ model: m, data: subset, epochs: 1, batchSize: batch, lr: 0.01, seed: 1 });
      const rates: number[] = [];
      const cpuRates: number[] = [];
      const cpuMs = (): number => {
        const u = process.cpuUsage();
        return (u.user + u.system) / 1000;
      };
      let cpuStart = cpuMs();
      await trainLocal({
        model: m, data: subset, epochs: repeats, batchSize: batch, lr: 0.01, seed: 1,
        onEpoch: (e) => {
          const now = cpuMs();
          rates.push(e.samplesPerSec);
          cpuRates.push(e.samples / ((now - cpuStart) / 1000));
          cpuStart = now;
        },
      });
      m.dispose();
      const rate = median(rates);
      const cpuRate = median(cpuRates);
      rows.push({ model, backend, rate, cpuRate, ratio: torch ? rate / torch.rate : undefined, cpuRatio: torch ? cpuRate / torch.cpuRate : undefined });
    }
    if (torch) rows.push({ model, backend: "pytorch", rate: torch.rate, cpuRate: torch.cpuRate, ratio: 1, cpuRatio: 1 });
  }
  console.log(`\nsamples ${samples}, batch ${batch}, ${threads} thread(s), sgd, median of ${repeats} epochs after one warm-up; tfjs ${tf.version.tfjs}`);
  console.log("wall: samples per second of wall time; cpu: per second of the process's CPU time (steadier on a loaded machine)");
  const header = ["model".padEnd(12), "backend".padEnd(8), "wall/s".padStart(8), "× pytorch".padStart(10), "cpu/s".padStart(8), "× pytorch".padStart(10)];
  console.log(header.join("  "));
  const fmt = (v: number | undefined): string => (v === undefined ? "-" : v.toFixed(3)).padStart(10);
  for (const r of rows) {
    console.log([r.model.padEnd(12), r.backend.padEnd(8), r.rate.toFixed(0).padStart(8), fmt(r.ratio), r.cpuRate.toFixed(0).padStart(8), fmt(r.cpuRatio)].join("  "));
  }
  if (!torchAvailable) console.log("PyTorch not importable by /usr/bin/python3: no ratio.");
  const figures: Record<string, number | null> = {};
  for (const r of rows) {
    figures[`${r.model}_${r.backend}_samples_per_s`] = Math.round(r.rate);
    figures[`${r.model}_${r.backend}_samples_per_cpu_s`] = Math.round(r.cpuRate);
    if (r.backend !== "pytorch") {
      figures[`${r.model}_${r.backend}_vs_pytorch`] = r.ratio === undefined ? null : Number(r.ratio.toFixed(3));
      figures[`${r.model}_${r.backend}_cpu_vs_pytorch`] = r.cpuRatio === undefined ? null : Number(r.cpuRatio.toFixed(3));
    }
  }
  console.log(JSON.stringify({ bench: "train", samples, batch, threads, ...figures }));
}
