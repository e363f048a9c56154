/**
 * Splitting a data set across simulated clients: IID, Dirichlet(α) over labels, and "k shards
 * per client" (the FedAvg paper's pathological non-IID split). Seeded and reproducible.
 */
import { UsageError } from "../core/errors.js";
import { createRng, permutation } from "./rng.js";

export type PartitionScheme = { kind: "iid" } | { kind: "dirichlet"; alpha: number } | { kind: "shards"; perClient: number };

/** Parse "iid", "dirichlet:0.5" or "shards:2". */
export function parsePartitionScheme(text: string): PartitionScheme {
  const [kind, arg] = text.split(":");
  if (kind === "iid" && arg === undefined) return { kind: "iid" };
  const value = Number(arg);
  if (kind === "dirichlet" && arg !== undefined && Number.isFinite(value) && value > 0) return { kind: "dirichlet", alpha: value };
  if (kind === "shards" && arg !== undefined && Number.isInteger(value) && value > 0) return { kind: "shards", perClient: value };
  throw new UsageError(`Unknown partition scheme "${text}".`, {
    code: "PARTITION_SCHEME",
    hint: "Use iid, dirichlet:<alpha > 0> or shards:<k ≥ 1>.",
  });
}

/**
 * Assign sample indices to `clients` clients. `labels[i]` is sample i's class. Every sample goes
 * to exactly one client; the same inputs and seed give the same split.
 */
export function partitionIndices(labels: ArrayLike<number>, clients: number, scheme: PartitionScheme, seed: number): number[][] {
  if (!Number.isInteger(clients) || clients < 1) throw new UsageError(`clients must be a positive integer, got ${clients}.`);
  const n = labels.length;
  const rng = createRng(seed);
  const parts: number[][] = Array.from({ length: clients }, () => []);
  if (scheme.kind === "iid") {
    const order = permutation(n, rng);
    order.forEach((index, i) => parts[i % clients].push(index));
  } else if (scheme.kind === "shards") {
    const shards = clients * scheme.perClient;
    if (shards > n) throw new UsageError(`Cannot cut ${n} samples into ${shards} shards.`, { code: "PARTITION_SCHEME" });
    // Sort by label (stable, ties broken by a seeded order), cut into equal shards, deal shards at random.
    const order = Array.from(permutation(n, rng)).sort((a, b) => labels[a] - labels[b]);
    const shardOrder = permutation(shards, rng);
    for (let s = 0; s < shards; s++) {
      const shard = shardOrder[s];
      const start = Math.floor((shard * n) / shards);
      const end = Math.floor(((shard + 1) * n) / shards);
      parts[Math.floor(s / scheme.perClient)].push(...order.slice(start, end));
    }
  } else {
    const byClass = new Map<number, number[]>();
    for (const index of permutation(n, rng)) {
      const label = labels[index];
      const list = byClass.get(label) ?? [];
      list.push(index);
      byClass.set(label, list);
    }
    for (const label of [...byClass.keys()].sort((a, b) => a - b)) {
      const members = byClass.get(label)!;
      const draws = Array.from({ length: clients }, () => rng.gamma(scheme.alpha));
      const total = draws.reduce((a, b) => a + b, 0) || 1;
      let start = 0;
      let cumulative = 0;
      for (let c = 0; c < clients; c++) {
        cumulative += draws[c] / total;
        const end = c === clients - 1 ? members.length : Math.round(cumulative * members.length);
        parts[c].push(...members.slice(start, end));
        start = end;
      }
    }
  }
  for (const part of parts) part.sort((a, b) => a - b);
  return parts;
}
