/**
 * `npm run bench -- delta [--params N] [--repeat R]`: speed and size of the delta push path on a
 * 10M-parameter delta. Per encoding: encode/decode MB/s (of float32-equivalent data) and size
 * relative to float32; HPKE seal/open MB/s and their peak memory relative to the delta size;
 * local store put/get MB/s (including CID computation and verification). Medians of R runs.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { decodeDelta, encodeDelta, type DeltaTensor } from "../../src/core/delta/index.js";
import { generateRoundKeyPair, openDelta, sealDelta } from "../../src/crypto/hpke.js";
import { LocalBlobStore } from "../../src/store/local.js";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

function makeDelta(params: number): DeltaTensor[] {
  // Shaped like a small MLP: a few big kernels and their biases.
  const tensors: DeltaTensor[] = [];
  let left = params;
  let layer = 0;
  while (left > 0) {
    const rows = 2000;
    const cols = Math.max(1, Math.min(2000, Math.floor((left - 2000) / rows)));
    const kernel = Math.min(left, rows * cols);
    tensors.push({ name: `dense_${layer}/kernel`, shape: [kernel / cols, cols].map(Math.floor), data: new Float32Array(Math.floor(kernel / cols) * cols) });
    left -= tensors[tensors.length - 1].data.length;
    if (left > 0) {
      const bias = Math.min(left, cols);
      tensors.push({ name: `dense_${layer}/bias`, shape: [bias], data: new Float32Array(bias) });
      left -= bias;
    }
    layer++;
  }
  let seed = 12345;
  for (const t of tensors) {
    for (let i = 0; i < t.data.length; i++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      t.data[i] = (seed / 4294967296 - 0.5) * 0.02;
    }
  }
  return tensors;
}

async function time<T>(fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const t = performance.now();
  const value = await fn();
  return { ms: performance.now() - t, value };
}

/** Peak extra ArrayBuffer memory while fn runs, sampled between its awaits. */
async function peakMemory<T>(fn: () => Promise<T>): Promise<{ extra: number; value: T }> {
  (globalThis as { gc?: () => void }).gc?.();
  const base = process.memoryUsage().arrayBuffers;
  let peak = base;
  const sample = () => (peak = Math.max(peak, process.memoryUsage().arrayBuffers));
  const timer = setInterval(sample, 1);
  try {
    const value = await fn();
    sample();
    return { extra: peak - base, value };
  } finally {
    clearInterval(timer);
  }
}

export default async function run(args: string[]): Promise<void> {
  const params = option(args, "--params", 10_000_000);
  const repeat = option(args, "--repeat", 5);
  const tensors = makeDelta(params);
  const mb = (params * 4) / 1e6;
  const rows: string[][] = [];
  const figures: Record<string, number> = { params, repeat };

  let f32Bytes = 0;
  let float32Blob: Uint8Array = new Uint8Array(0);
  for (const encoding of ["float32", "float16", "int8", "int8:1024", "topk:0.01"]) {
    const enc: number[] = [];
    const dec: number[] = [];
    let size = 0;
    for (let r = 0; r < repeat; r++) {
      const e = await time(() => encodeDelta({ sampleCount: 1000, tensors }, { encoding }));
      const d = await time(() => decodeDelta(e.value.bytes));
      enc.push(mb / (e.ms / 1000));
      dec.push(mb / (d.ms / 1000));
      size = e.value.bytes.length;
      if (encoding === "float32") float32Blob = e.value.bytes;
    }
    if (encoding === "float32") f32Bytes = size;
    const key = encoding.replace(/[:.]/g, "_");
    figures[`encode_${key}_MBps`] = Math.round(median(enc));
    figures[`decode_${key}_MBps`] = Math.round(median(dec));
    figures[`size_${key}_vs_float32`] = Number((size / f32Bytes).toFixed(4));
    rows.push([encoding, median(enc).toFixed(0), median(dec).toFixed(0), `${((100 * size) / f32Bytes).toFixed(1)}%`]);
  }

  // Machine baselines measured in the same run, so the figures above can be read as ratios
  // (on a loaded 2-core CI box absolute MB/s say more about the neighbours than about dat).
  const memcpy: number[] = [];
  const aes: number[] = [];
  const { subtle } = globalThis.crypto;
  const aesKey = await subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt"]);
  for (let r = 0; r < repeat; r++) {
    const m = await time(() => float32Blob.slice());
    memcpy.push(float32Blob.length / 1e6 / (m.ms / 1000));
    const a = await time(() => subtle.encrypt({ name: "AES-GCM", iv: new Uint8Array(12) }, aesKey, float32Blob));
    aes.push(float32Blob.length / 1e6 / (a.ms / 1000));
  }
  figures.baseline_memcpy_MBps = Math.round(median(memcpy));
  figures.baseline_aes256gcm_MBps = Math.round(median(aes));

  const keys = await generateRoundKeyPair();
  const aad = { jobId: 1, round: 1, contributor: "0x1111111111111111111111111111111111111111" };
  const seal: number[] = [];
  const open: number[] = [];
  let sealPeak = 0;
  let openPeak = 0;
  let sealed: Uint8Array = new Uint8Array(0);
  for (let r = 0; r < repeat; r++) {
    const s = await time(() => peakMemory(() => sealDelta(float32Blob, keys.publicKey, aad)));
    sealed = s.value.value;
    const o = await time(() => peakMemory(() => openDelta(sealed, keys.privateKey, aad)));
    seal.push(float32Blob.length / 1e6 / (s.ms / 1000));
    open.push(float32Blob.length / 1e6 / (o.ms / 1000));
    // The input is already held; the ratio counts it plus everything the operation added.
    sealPeak = Math.max(sealPeak, (float32Blob.length + s.value.extra) / float32Blob.length);
    openPeak = Math.max(openPeak, (sealed.length + o.value.extra) / float32Blob.length);
  }
  figures.seal_MBps = Math.round(median(seal));
  figures.open_MBps = Math.round(median(open));
  figures.seal_peak_memory_x = Number(sealPeak.toFixed(2));
  figures.open_peak_memory_x = Number(openPeak.toFixed(2));

  const home = fs.mkdtempSync(path.join(os.tmpdir(), "dat-bench-delta-"));
  const put: number[] = [];
  const get: number[] = [];
  try {
    for (let r = 0; r < repeat; r++) {
      const store = new LocalBlobStore(fs.mkdtempSync(path.join(home, "r")));
      const p = await time(() => store.put(sealed));
      const g = await time(() => store.get(p.value));
      put.push(sealed.length / 1e6 / (p.ms / 1000));
      get.push(sealed.length / 1e6 / (g.ms / 1000));
    }
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
  figures.local_put_MBps = Math.round(median(put));
  figures.local_get_MBps = Math.round(median(get));

  console.log(`delta benchmark: ${params} parameters (${mb.toFixed(0)} MB float32), median of ${repeat}`);
  console.log("");
  console.log(["encoding", "encode MB/s", "decode MB/s", "size vs float32"].map((h) => h.padEnd(16)).join(""));
  for (const row of rows) console.log(row.map((c) => c.padEnd(16)).join(""));
  console.log("");
  console.log(`seal ${figures.seal_MBps} MB/s (peak ${figures.seal_peak_memory_x}× delta), open ${figures.open_MBps} MB/s (peak ${figures.open_peak_memory_x}× delta)`);
  console.log(`baselines: memcpy ${figures.baseline_memcpy_MBps} MB/s, one-shot WebCrypto AES-256-GCM ${figures.baseline_aes256gcm_MBps} MB/s; seal/AES ${(figures.seal_MBps / figures.baseline_aes256gcm_MBps).toFixed(2)}, os.loadavg ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores`);
  console.log(`local store put ${figures.local_put_MBps} MB/s, get ${figures.local_get_MBps} MB/s (CID computed / verified)`);
  figures.loadavg_1m = Number(os.loadavg()[0].toFixed(1));
  console.log(JSON.stringify({ bench: "delta", ...figures }));
}
