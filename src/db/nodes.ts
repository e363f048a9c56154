/**
 * Rows of the `nodes` table (migration 003; registered_ip from 006): contributors registered with
 * a signed registration.
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

/**
 * Registers a node or refreshes its metadata (re-registering is allowed and keeps the first date
 * and the first IP); either counts as the node being seen now (its heartbeat).
 */
export function upsertNode(db: Database.Database, node: Omit<NodeRow, "registeredAt" | "lastSeenAt"> & { ip?: string | null }, now = Date.now()): NodeRow {
  prepared(db, `INSERT INTO nodes (address, metadata, signature, registered_at, registered_ip, last_seen_at) VALUES (@address, @metadata, @signature, @now, @ip, @now)
    ON CONFLICT (address) DO UPDATE SET metadata = excluded.metadata, signature = excluded.signature, last_seen_at = excluded.last_seen_at`).run({
    address: node.address.toLowerCase(), metadata: JSON.stringify(node.metadata), signature: node.signature, now, ip: node.ip ?? null,
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

/** Every node, oldest first (in-process callers; HTTP pages through listNodesPage). */
export function listNodes(db: Database.Database): NodeRow[] {
  return (prepared(db, "SELECT * FROM nodes ORDER BY registered_at, address").all() as RawNode[]).map(fromRaw);
}

/** One page of nodes by address (keyset pagination: `after` is the last address of the page before). */
export function listNodesPage(db: Database.Database, page: { limit: number; after?: string }): NodeRow[] {
  return (prepared(db, "SELECT * FROM nodes WHERE address > @after ORDER BY address LIMIT @limit")
    .all({ after: (page.after ?? "").toLowerCase(), limit: page.limit }) as RawNode[]).map(fromRaw);
}

/** Nodes registered in all, and from one IP. */
export function countNodes(db: Database.Database, ip?: string): number {
  const row = ip === undefined
    ? prepared(db, "SELECT COUNT(*) AS n FROM nodes").get()
    : prepared(db, "SELECT COUNT(*) AS n FROM nodes WHERE registered_ip = ?").get(ip);
  return (row as { n: number }).n;
}

/** Rounds each address contributed to (submissions not rejected), all jobs together. */
export function roundsContributed(db: Database.Database): Map<string, number> {
  const rows = prepared(db, "SELECT address, COUNT(*) AS n FROM submissions WHERE status != 'rejected' GROUP BY address").all() as { address: string; n: number }[];
  return new Map(rows.map((r) => [r.address.toLowerCase(), r.n]));
}
