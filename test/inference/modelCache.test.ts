import { describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { ModelCache, tfModelWeightBytes } from "../../src/inference/modelCache.js";

class Model {
  disposed = false;
  constructor(readonly cid: string, readonly bytes: number) {}
  dispose() { this.disposed = true; }
}

const cache = (budget: number) => new ModelCache<Model>({ budgetBytes: budget, sizeOf: (m) => m.bytes });

describe("ModelCache", () => {
  it("keeps models warm and evicts the least recently used past the budget, disposing it", async () => {
    const c = cache(250);
    const loaded: Model[] = [];
    const load = (cid: string) => async () => { const m = new Model(cid, 100); loaded.push(m); return m; };
    (await c.acquire("a", load("a"))).release();
    (await c.acquire("b", load("b"))).release();
    (await c.acquire("a", load("a"))).release(); // a is now the most recent
    (await c.acquire("c", load("c"))).release(); // 300 > 250: b goes
    expect(loaded.map((m) => m.cid)).toEqual(["a", "b", "c"]);
    expect(c.has("a")).toBe(true);
    expect(c.has("b")).toBe(false);
    expect(loaded[1].disposed).toBe(true);
    expect(c.stats()).toMatchObject({ entries: 2, bytes: 200, hits: 1, misses: 3, evictions: 1 });
  });

  it("shares one load between concurrent misses", async () => {
    const c = cache(1000);
    let loads = 0;
    const load = async () => { loads++; return new Model("x", 10); };
    const leases = await Promise.all(Array.from({ length: 8 }, () => c.acquire("x", load)));
    expect(loads).toBe(1);
    expect(new Set(leases.map((l) => l.model)).size).toBe(1);
    leases.forEach((l) => l.release());
  });

  it("does not dispose a leased model on eviction until it is released", async () => {
    const c = cache(100);
    const lease = await c.acquire("a", async () => new Model("a", 100));
    (await c.acquire("b", async () => new Model("b", 100))).release();
    expect(c.has("a")).toBe(false);
    expect(lease.model.disposed).toBe(false);
    lease.release();
    lease.release(); // a second release is harmless
    expect(lease.model.disposed).toBe(true);
  });

  it("does not cache a failed load", async () => {
    const c = cache(100);
    await expect(c.acquire("a", async () => { throw new Error("boom"); })).rejects.toThrow("boom");
    const lease = await c.acquire("a", async () => new Model("a", 1));
    expect(lease.model.cid).toBe("a");
  });

  it("rejects a non-positive budget", () => {
    expect(() => cache(0)).toThrow(RangeError);
  });

  it("measures tfjs weight bytes and disposes tfjs models", async () => {
    const make = () => {
      const m = tf.sequential();
      m.add(tf.layers.dense({ inputShape: [4], units: 3 }));
      return m;
    };
    const c = new ModelCache<tf.LayersModel>({ budgetBytes: 60, sizeOf: tfModelWeightBytes });
    const before = tf.memory().numTensors;
    const first = await c.acquire("m1", async () => make());
    expect(tfModelWeightBytes(first.model)).toBe((4 * 3 + 3) * 4);
    first.release();
    (await c.acquire("m2", async () => make())).release();
    expect(c.has("m1")).toBe(false);
    c.clear();
    expect(tf.memory().numTensors).toBe(before);
  });
});
