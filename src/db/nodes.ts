/**
 * Rows of the `nodes` table (migration 003): contributors registered with a signed registration.
 */
import type Database from "better-sqlite3";
import { prepared } from "./statements.js";

export interface NodeRow {
  /** Lower-case 0x address. */
  address: string;
  /** What the node reported: hardware, backend, client version. */
  metadata: Record<string, unknown>;
  signature: string;
  registeredAt: number;
  /** When the node was last heard from (registration or heartbeat), ms; migration 007. */
  lastSeenAt: number;
}

interface RawNode { address: string; metadata: string; signature: string; registered_at: number; last_seen_at: number | null }

function fromRaw(r: RawNode): NodeRow {
  return { address: r.address, metadata: JSON.parse(r.metadata) as Record<string, unknown>, signature: r.signature, registeredAt: r.registered_at, lastSeenAt: r.last_seen_at ?? r.registered_at };
}

/** Registers a node or refreshes its metadata (re-registering is allowed and keeps the first date). */
export function upsertNode(db: Database.Database, node: Omit<NodeRow, "registeredAt" | "lastSeenAt">, now = Date.now()): NodeRow {
  prepared(db, `INSERT INTO nodes (address, metadata, signature, registered_at, last_seen_at) VALUES (@address, @metadata, @signature, @now, @now)
    ON CONFLICT (address) DO UPDATE SET metadata = excluded.metadata, signature = excluded.signature, last_seen_at = excluded.last_seen_at`).run({
    address: node.address.toLowerCase(), metadata: JSON.stringify(node.metadata), signature: node.signature, now,
  });
  return getNode(db, node.address)!;
}

/** Whether `address` is a registered node (without reading its metadata). */
export function isNodeRegistered(db: Database.Database, address: string): boolean {
  return prepared(db, "SELECT 1 FROM nodes WHERE address = ?").get(address.toLowerCase()) !== undefined;
}

export function getNode(db: Database.Database, address: string): NodeRow | undefined {
  const r = prepared(db, "SELECT * FROM nodes WHERE address = ?").get(address.toLowerCase()) as RawNode | undefined;
  return r && fromRaw(r);
}

export function listNodes(db: Database.Database): NodeRow[] {
  return (prepared(db, "SELECT * FROM nodes ORDER BY registered_at, address").all() as RawNode[]).map(fromRaw);
}

/** Rounds each address contributed to (submissions not rejected), all jobs together. */
export function roundsContributed(db: Database.Database): Map<string, number> {
  const rows = prepared(db, "SELECT address, COUNT(*) AS n FROM submissions WHERE status != 'rejected' GROUP BY address").all() as { address: string; n: number }[];
  return new Map(rows.map((r) => [r.address.toLowerCase(), r.n]));
}
