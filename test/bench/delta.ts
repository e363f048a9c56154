/**
 * `npm run bench -- delta [--params N] [--repeat R]`: speed and size of the delta push path on a
 * 10M-parameter delta. Per encoding: encode/decode MB/s (of float32-equivalent data) and size
 * relative to float32; HPKE seal/open MB/s and their peak memory relative to the delta size;
 * local store put/get MB/s (including CID computation and verification). Medians of R runs.
 */
import { createCipheriv, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import v8 from "node:v8";
import vm from "node:vm";
import { decodeDelta, encodeDelta, type DeltaTensor } from "../../src/core/delta/index.js";
import { generateRoundKeyPair, openDelta, sealDelta } from "../../src/crypto/hpke.js";
import { LocalBlobStore } from "../../src/store/local.js";
import { median, numberOption } from "./stats.js";

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

/** A garbage collector to call (the bench runs without --expose-gc): memory figures need a clean base. */
function collector(): () => void {
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc") as () => void;
}

/** Peak extra ArrayBuffer memory while fn runs, sampled between its awaits and at its end. */
async function peakMemory<T>(fn: () => Promise<T>): Promise<{ extra: number; value: T }> {
  // Buffers of the previous awaits stay reachable until the current task ends: yield, then collect.
  const gc = collector();
  for (let i = 0; i < 2; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
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
  const params = numberOption(args, "--params", 10_000_000);
  const repeat = numberOption(args, "--repeat", 5);
  const tensors = makeDelta(params);
  const mb = (params * 4) / 1e6;
  const rows: string[][] = [];
  const figures: Record<string, number> = { params, repeat };

  const decodeCopy: number[] = [];
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
      if (encoding === "float32") {
        float32Blob = e.value.bytes;
        // The default decode views aligned float32 payloads in place; this is the copying path.
        const c = await time(() => decodeDelta(e.value.bytes, { copy: true }));
        decodeCopy.push(mb / (c.ms / 1000));
      }
    }
    if (encoding === "float32") f32Bytes = size;
    const key = encoding.replace(/[:.]/g, "_");
    figures[`encode_${key}_MBps`] = Math.round(median(enc));
    figures[`decode_${key}_MBps`] = Math.round(median(dec));
    figures[`size_${key}_vs_float32`] = Number((size / f32Bytes).toFixed(4));
    rows.push([encoding, median(enc).toFixed(0), median(dec).toFixed(0), `${((100 * size) / f32Bytes).toFixed(1)}%`]);
  }

  figures.decode_float32_copy_MBps = Math.round(median(decodeCopy));

  // Machine baselines measured in the same run, so the figures above can be read as ratios
  // (on a loaded 2-core CI box absolute MB/s say more about the neighbours than about dat).
  const memcpy: number[] = [];
  const memcpyPre: number[] = [];
  const aes: number[] = [];
  const aesNode: number[] = [];
  const pre = new Uint8Array(float32Blob.length);
  const nodeKey = randomBytes(32);
  const { subtle } = globalThis.crypto;
  const aesKey = await subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt"]);
  for (let r = 0; r < repeat; r++) {
    const m = await time(() => float32Blob.slice());
    memcpy.push(float32Blob.length / 1e6 / (m.ms / 1000));
    const p = await time(() => pre.set(float32Blob));
    memcpyPre.push(float32Blob.length / 1e6 / (p.ms / 1000));
    const a = await time(() => subtle.encrypt({ name: "AES-GCM", iv: new Uint8Array(12) }, aesKey, float32Blob));
    aes.push(float32Blob.length / 1e6 / (a.ms / 1000));
    // The cipher itself: OpenSSL GCM over 1 MiB steps, outputs dropped (no result buffer to fault in).
    const n = await time(() => {
      const c = createCipheriv("aes-256-gcm", nodeKey, randomBytes(12));
      for (let o = 0; o < float32Blob.length; o += 1 << 20) c.update(float32Blob.subarray(o, o + (1 << 20)));
      c.final();
    });
    aesNode.push(float32Blob.length / 1e6 / (n.ms / 1000));
  }
  figures.baseline_memcpy_MBps = Math.round(median(memcpy));
  figures.baseline_memcpy_prealloc_MBps = Math.round(median(memcpyPre));
  figures.baseline_aes256gcm_MBps = Math.round(median(aes));
  figures.baseline_aes256gcm_node_MBps = Math.round(median(aesNode));

  const keys = await generateRoundKeyPair();
  const aad = { jobId: 1, round: 1, contributor: "0x1111111111111111111111111111111111111111" };
  const seal: number[] = [];
  const open: number[] = [];
  let sealPeak = 0;
  let openPeak = 0;
  let sealed: Uint8Array = new Uint8Array(0);
  // Timed runs and memory runs are separate: sampling memoryUsage() every millisecond would slow
  // the timed code down, and the timed runs' garbage would skew the memory figures.
  for (let r = 0; r < repeat; r++) {
    const s = await time(() => sealDelta(float32Blob, keys.publicKey, aad));
    sealed = s.value;
    const o = await time(() => openDelta(sealed, keys.privateKey, aad));
    seal.push(float32Blob.length / 1e6 / (s.ms / 1000));
    open.push(float32Blob.length / 1e6 / (o.ms / 1000));
  }
  {
    // The input is already held; the ratio counts it plus everything the operation added.
    const s = await peakMemory(() => sealDelta(float32Blob, keys.publicKey, aad));
    sealPeak = (float32Blob.length + s.extra) / float32Blob.length;
    const o = await peakMemory(() => openDelta(s.value, keys.privateKey, aad));
    openPeak = (s.value.length + o.extra) / float32Blob.length;
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
  console.log(`float32 decode with a copy (options.copy): ${figures.decode_float32_copy_MBps} MB/s`);
  console.log("");
  console.log(`seal ${figures.seal_MBps} MB/s (peak ${figures.seal_peak_memory_x}× delta), open ${figures.open_MBps} MB/s (peak ${figures.open_peak_memory_x}× delta)`);
  const m = figures.baseline_memcpy_MBps;
  console.log(
    `baselines: memcpy into a new buffer ${m} MB/s (into an existing one ${figures.baseline_memcpy_prealloc_MBps}), ` +
      `AES-256-GCM one-shot WebCrypto ${figures.baseline_aes256gcm_MBps} MB/s, node:crypto 1 MiB steps ${figures.baseline_aes256gcm_node_MBps} MB/s; ` +
      `os.loadavg ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores`,
  );
  console.log(
    `ratios to memcpy: decode float32 ${(figures.decode_float32_MBps / m).toFixed(2)} (copying ${(figures.decode_float32_copy_MBps / m).toFixed(2)}), ` +
      `seal ${(figures.seal_MBps / m).toFixed(2)}, open ${(figures.open_MBps / m).toFixed(2)}, put ${(figures.local_put_MBps / m).toFixed(2)}, get ${(figures.local_get_MBps / m).toFixed(2)}`,
  );
  console.log(`local store put ${figures.local_put_MBps} MB/s, get ${figures.local_get_MBps} MB/s (CID computed / verified)`);
  figures.loadavg_1m = Number(os.loadavg()[0].toFixed(1));
  console.log(JSON.stringify({ bench: "delta", ...figures }));
}
