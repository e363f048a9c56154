import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { resolveBackend } from "../../src/train/backends.js";
import { getWeightTensors, loadModelDir, packModel, packModelDir, saveModelDir, setWeightTensors, unpackModel } from "../../src/train/modelIo.js";
import { partitionIndices, parsePartitionScheme } from "../../src/train/partition.js";
import { parseTrainOptions } from "../../src/cli/commands/train/train.js";

const fixtures = path.resolve(__dirname, "../../fixtures");
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "dat-model-"));

describe("model files", () => {
  beforeAll(async () => {
    await resolveBackend("cpu");
  });

  it("saves, loads, packs and unpacks with identical weights in a fixed order", async () => {
    const model = await loadModelDir(path.join(fixtures, "cnn-digits"));
    const dir = tmp();
    await saveModelDir(model, dir);
    const again = await loadModelDir(dir);
    const blob = await packModel(again);
    const unpacked = await unpackModel(blob);
    const [a, b, c] = await Promise.all([model, again, unpacked].map(getWeightTensors));
    expect(b.map((w) => w.name)).toEqual(a.map((w) => w.name));
    expect(c.map((w) => Array.from(w.data))).toEqual(a.map((w) => Array.from(w.data)));
    expect(Buffer.from(await packModelDir(dir)).equals(Buffer.from(blob))).toBe(true);
    [model, again, unpacked].forEach((m) => m.dispose());
  });

  it("setWeightTensors writes weights and names a misfit", async () => {
    const model = await loadModelDir(path.join(fixtures, "mlp-tabular"));
    const list = (await getWeightTensors(model)).map((w) => ({ ...w, data: w.data.map(() => 0.5) }));
    setWeightTensors(model, list);
    expect((await getWeightTensors(model))[0].data[3]).toBe(0.5);
    const bad = list.map((w, i) => (i === 1 ? { ...w, data: new Float32Array(1), shape: [1] } : w));
    expect(() => setWeightTensors(model, bad)).toThrow(/Weight 1 does not fit/);
    model.dispose();
  });

  it("rejects a folder that is not a tfjs model, a broken model.json and a bad blob", async () => {
    const dir = tmp();
    await expect(loadModelDir(dir)).rejects.toThrow(/model\.json does not exist/);
    fs.writeFileSync(path.join(dir, "model.json"), "{ nope");
    await expect(loadModelDir(dir)).rejects.toThrow(/model\.json is not JSON/);
    fs.writeFileSync(path.join(dir, "model.json"), JSON.stringify({ format: "graph-model" }));
    await expect(loadModelDir(dir)).rejects.toThrow(/no "modelTopology"/);
    const copy = tmp();
    fs.copyFileSync(path.join(fixtures, "mlp-tabular/model.json"), path.join(copy, "model.json"));
    fs.writeFileSync(path.join(copy, "weights.bin"), Buffer.alloc(12));
    await expect(loadModelDir(copy)).rejects.toThrow(/weight files hold 12 bytes, the manifest needs 780/);
    await expect(unpackModel(new Uint8Array([1, 2, 3]))).rejects.toThrow(/DATM header/);
  });
});

describe("partitioner", () => {
  const labels = Array.from({ length: 400 }, (_, i) => i % 10);

  it.each(["iid", "dirichlet:0.3", "shards:2"])("%s covers every sample once and is reproducible", (text) => {
    const scheme = parsePartitionScheme(text);
    const parts = partitionIndices(labels, 5, scheme, 7);
    expect(parts.flat().sort((a, b) => a - b)).toEqual(labels.map((_, i) => i));
    expect(partitionIndices(labels, 5, scheme, 7)).toEqual(parts);
    expect(partitionIndices(labels, 5, scheme, 8)).not.toEqual(parts);
  });

  it("shards:1 gives each client few classes; iid gives all", () => {
    const classes = (parts: number[][]) => parts.map((p) => new Set(p.map((i) => labels[i])).size);
    expect(Math.max(...classes(partitionIndices(labels, 10, { kind: "shards", perClient: 1 }, 1)))).toBeLessThanOrEqual(2);
    expect(Math.min(...classes(partitionIndices(labels, 4, { kind: "iid" }, 1)))).toBe(10);
  });

  it.each(["dirichlet:0", "dirichlet", "shards:1.5", "random"])("rejects the scheme %s", (text) => {
    expect(() => parsePartitionScheme(text)).toThrow(/Unknown partition scheme/);
  });
});

describe("dat train flags", () => {
  it.each([
    [{ model: "m", data: "d", epochs: "0", push: true }, /--epochs must be a positive integer/],
    [{ model: "m", data: "d", lr: "-1", push: true }, /--lr must be a positive number/],
    [{ model: "m", data: "d", optimizer: "rmsprop", push: true }, /--optimizer must be one of sgd, adam/],
    [{ model: "m", data: "d", valSplit: "1", push: true }, /--val-split must be a fraction/],
    [{ model: "m", data: "d", backend: "tpu", push: true }, /--backend must be one of/],
    [{ model: "m", push: true }, /Pass --data/],
    [{ push: true }, /Pass --job <id>, or --model/],
    [{ model: "m", data: "d", push: false }, /--no-push only applies with --job/],
  ])("rejects %j", (opts, pattern) => {
    expect(() => parseTrainOptions(opts)).toThrow(pattern);
  });
});
