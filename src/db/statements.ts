/**
 * Prepared statements cached per connection. better-sqlite3's `db.prepare()` compiles the SQL on
 * every call, and the orchestrator runs about ten queries per submission: compiling each once per
 * connection takes that cost off the hot path. Only constant SQL belongs here (values are bound,
 * never spliced in), so the cache holds one entry per query of the code, not per value.
 */
import type Database from "better-sqlite3";

const cache = new WeakMap<Database.Database, Map<string, Database.Statement>>();

/** The statement for `sql` on `db`, compiled on first use. */
export function prepared(db: Database.Database, sql: string): Database.Statement {
  let statements = cache.get(db);
  if (!statements) {
    statements = new Map();
    cache.set(db, statements);
  }
  let statement = statements.get(sql);
  if (!statement) {
    statement = db.prepare(sql);
    statements.set(sql, statement);
  }
  return statement;
}
