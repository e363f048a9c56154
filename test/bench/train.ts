/**
 * Training speed: the fixture MLP and CNN trained for a fixed number of samples on each tfjs
 * backend that loads here, in samples/s (median of a few repeats after a warm-up). Where
 * `python3 -c "import torch"` works, the same architectures, shapes, batch size and thread count
 * train in PyTorch in the same run, and the ratio tfjs/PyTorch is printed.
 * Args: --samples N (default 2048), --batch N (32), --repeats N (3).
 */
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { probeBackends, resolveBackend, type BackendName } from "../../src/train/backends.js";
import { syntheticDigits } from "../../src/train/data/synthetic.js";
import { loadModelDir } from "../../src/train/modelIo.js";
import { trainLocal } from "../../src/train/trainLocal.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

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
rates = []
for _ in range(repeats):
    t = time.perf_counter(); epoch(); rates.append(samples / (time.perf_counter() - t))
rates.sort(); print(json.dumps({"rate": rates[len(rates)//2]}))
`;

function torchRate(kind: string, samples: number, batch: number, threads: number, repeats: number): number | undefined {
  try {
    const out = execFileSync("/usr/bin/python3", ["-c", TORCH_SCRIPT, kind, String(samples), String(batch), String(threads), String(repeats)], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 600_000,
    });
    return (JSON.parse(out.trim().split("\n").pop()!) as { rate: number }).rate;
  } catch {
    return undefined;
  }
}

export default async function run(args: string[]): Promise<void> {
  const samples = arg(args, "--samples", 2048);
  const batch = arg(args, "--batch", 32);
  const repeats = arg(args, "--repeats", 3);
  const reports = await probeBackends();
  const usable = reports.filter((r) => r.available && r.name !== "webgpu").map((r) => r.name);
  for (const r of reports.filter((r) => !r.available)) console.log(`skip ${r.name}: ${r.reason}`);
  const data = syntheticDigits({ count: samples, seed: 1 });
  const rows: { model: string; backend: BackendName | "pytorch"; rate: number; ratio?: number }[] = [];
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
      await trainLocal({
        model: m, data: subset, epochs: repeats, batchSize: batch, lr: 0.01, seed: 1,
        onEpoch: (e) => rates.push(e.samplesPerSec),
      });
      m.dispose();
      const rate = median(rates);
      rows.push({ model, backend, rate, ratio: torch ? rate / torch : undefined });
    }
    if (torch) rows.push({ model, backend: "pytorch", rate: torch, ratio: 1 });
  }
  console.log(`\nsamples ${samples}, batch ${batch}, ${threads} thread(s), sgd, median of ${repeats} epochs after one warm-up; tfjs ${tf.version.tfjs}`);
  console.log(["model".padEnd(12), "backend".padEnd(8), "samples/s".padStart(10), "× pytorch".padStart(10)].join("  "));
  for (const r of rows) {
    console.log([r.model.padEnd(12), r.backend.padEnd(8), r.rate.toFixed(0).padStart(10), (r.ratio === undefined ? "-" : r.ratio.toFixed(3)).padStart(10)].join("  "));
  }
  if (!torchAvailable) console.log("PyTorch not importable by /usr/bin/python3: no ratio.");
  const figures: Record<string, number | null> = {};
  for (const r of rows) {
    figures[`${r.model}_${r.backend}_samples_per_s`] = Math.round(r.rate);
    if (r.backend !== "pytorch") figures[`${r.model}_${r.backend}_vs_pytorch`] = r.ratio === undefined ? null : Number(r.ratio.toFixed(3));
  }
  console.log(JSON.stringify({ bench: "train", samples, batch, threads, ...figures }));
}
