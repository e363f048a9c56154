/**
 * Loaded models, kept warm by CID in an LRU bounded by the sum of their weight bytes. A model in
 * use by a request is leased and is disposed only when evicted and no longer leased, so eviction
 * never pulls a model from under a running prediction.
 */

export interface Disposable {
  dispose(): void;
}

export interface ModelCacheOptions<M> {
  /** Memory budget: the sum of the cached models' weight bytes stays at most this (plus leased models). */
  budgetBytes: number;
  /** Weight bytes of a model. */
  sizeOf(model: M): number;
}

export interface ModelLease<M> {
  model: M;
  release(): void;
}

interface Entry<M> {
  cid: string;
  model: M;
  bytes: number;
  leases: number;
  evicted: boolean;
}

export interface ModelCacheStats {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
  evictions: number;
}

export class ModelCache<M extends Disposable> {
  private readonly entries = new Map<string, Entry<M>>();
  private readonly loading = new Map<string, Promise<Entry<M>>>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(private readonly options: ModelCacheOptions<M>) {
    if (!(options.budgetBytes > 0)) throw new RangeError("ModelCache budgetBytes must be positive");
  }

  /**
   * Lease the model for `cid`, loading it with `load` on a miss (concurrent misses share one load).
   * Call release() when done.
   */
  async acquire(cid: string, load: () => Promise<M>): Promise<ModelLease<M>> {
    let entry = this.entries.get(cid);
    if (entry) {
      this.hits++;
      // Map order is recency order: re-insert to mark as most recently used.
      this.entries.delete(cid);
      this.entries.set(cid, entry);
    } else {
      let pending = this.loading.get(cid);
      if (!pending) {
        this.misses++;
        pending = load().then((model) => this.insert(cid, model));
        this.loading.set(cid, pending);
        pending.finally(() => this.loading.delete(cid)).catch(() => {});
      }
      entry = await pending;
    }
    entry.leases++;
    let released = false;
    const e = entry;
    return {
      model: e.model,
      release: () => {
        if (released) return;
        released = true;
        e.leases--;
        if (e.evicted && e.leases === 0) e.model.dispose();
      },
    };
  }

  /** Whether `cid` is loaded. */
  has(cid: string): boolean {
    return this.entries.has(cid);
  }

  stats(): ModelCacheStats {
    return { entries: this.entries.size, bytes: this.bytes, hits: this.hits, misses: this.misses, evictions: this.evictions };
  }

  /** Evict and dispose everything (leased models are disposed when released). */
  clear(): void {
    for (const cid of [...this.entries.keys()]) this.evict(cid);
  }

  private insert(cid: string, model: M): Entry<M> {
    const bytes = this.options.sizeOf(model);
    const entry: Entry<M> = { cid, model, bytes, leases: 0, evicted: false };
    this.entries.set(cid, entry);
    this.bytes += bytes;
    // Evict least recently used first; the newcomer stays even when alone it exceeds the budget,
    // since the request that loaded it needs it.
    for (const oldest of this.entries.keys()) {
      if (this.bytes <= this.options.budgetBytes) break;
      if (oldest === cid) continue;
      this.evict(oldest);
    }
    return entry;
  }

  private evict(cid: string): void {
    const entry = this.entries.get(cid);
    if (!entry) return;
    this.entries.delete(cid);
    this.bytes -= entry.bytes;
    this.evictions++;
    entry.evicted = true;
    if (entry.leases === 0) entry.model.dispose();
  }
}

/** Weight bytes of a tfjs LayersModel (or anything with `weights: {val: {size, dtype}}[]`). */
export function tfModelWeightBytes(model: { weights: { read(): { size: number; dtype: string } }[] }): number {
  let total = 0;
  for (const w of model.weights) {
    const t = w.read();
    total += t.size * (t.dtype === "float32" || t.dtype === "int32" ? 4 : 1);
  }
  return total;
}
