/**
 * The `meta` table: small named facts about the home (created at, wallet address, …).
 */
import type Database from "better-sqlite3";

/** Read one meta value, or undefined. */
export function getMeta(db: Database.Database, key: string): string | undefined {
  const row = db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined;
  return row?.value;
}

/** Insert or replace one meta value. */
export function setMeta(db: Database.Database, key: string, value: string): void {
  db.prepare(
    "INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
  ).run(key, value, Date.now());
}

/** Set a meta value only when it is not set yet; returns the value that is stored afterwards. */
export function setMetaOnce(db: Database.Database, key: string, value: string): string {
  db.prepare("INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO NOTHING").run(key, value, Date.now());
  return getMeta(db, key)!;
}
