/**
 * Local state: SQLite (better-sqlite3) in $DAT_HOME/dat.db, in WAL mode so that several dat
 * processes can use one home at once (readers never block the writer; writers wait up to
 * busy_timeout for each other). Migrations run at open; the schema version is PRAGMA user_version.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { UserError } from "../core/errors.js";
import { DATABASE_FILE, ensureHome } from "../config/home.js";
import { migrations as defaultMigrations, type Migration } from "./migrations/index.js";

export type { Migration } from "./migrations/index.js";

/** How long a writer waits for another process's transaction before giving up. */
export const BUSY_TIMEOUT_MS = 5000;

export interface OpenDatabaseOptions {
  /** Migrations to apply (tests); the project's list by default. */
  migrations?: readonly Migration[];
}

/** Path of the database of a home. */
export function databasePath(home: string): string {
  return path.join(home, DATABASE_FILE);
}

/** The schema version this code brings a database to. */
export function latestSchemaVersion(list: readonly Migration[] = defaultMigrations): number {
  return list.reduce((max, m) => Math.max(max, m.version), 0);
}

/**
 * Open (creating when needed) the database of a home and bring its schema up to date.
 * A database written by a newer dat (user_version above what this code knows) is refused with a
 * UserError and left unchanged; so is a file that is not a SQLite database.
 */
export function openDatabase(home: string, options: OpenDatabaseOptions = {}): Database.Database {
  const list = [...(options.migrations ?? defaultMigrations)].sort((a, b) => a.version - b.version);
  checkMigrationList(list);
  ensureHome(home);
  const file = databasePath(home);
  keepPrivate(file);
  let db: Database.Database;
  try {
    db = new Database(file);
  } catch (error) {
    throw new UserError(`Cannot open the database ${file}: ${(error as Error).message}`, {
      code: "DB_UNREADABLE",
      hint: "Check the file's permissions, or use another --home.",
      cause: error,
    });
  }
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // Read the version before anything writes: a newer database must stay byte-for-byte as it is.
    const current = readUserVersion(db, file);
    const latest = latestSchemaVersion(list);
    if (current > latest) {
      throw new UserError(`The database ${file} has schema version ${current}, newer than this dat knows (${latest}).`, {
        code: "DB_TOO_NEW",
        hint: "Upgrade dat, or use another --home; the database was not changed.",
        data: { file, version: current, known: latest },
      });
    }
    db.pragma("journal_mode = WAL");
    db.pragma("foreign_keys = ON");
    applyMigrations(db, list);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * The database holds the keys of private models and the rounds' private keys: mode 0600. A new
 * file is created empty with that mode before SQLite opens it (an empty file is an empty database;
 * SQLite gives its -wal and -shm files the database file's mode); an older home's wider file is
 * narrowed. Failures are left to the open, which reports them.
 */
function keepPrivate(file: string): void {
  try {
    fs.closeSync(fs.openSync(file, "wx", 0o600));
  } catch {
    // exists already, or cannot be created: the open below says why
  }
  if (process.platform === "win32") return;
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      if ((fs.statSync(f).mode & 0o077) !== 0) fs.chmodSync(f, 0o600);
    } catch {
      // absent, or not ours to change
    }
  }
}

function readUserVersion(db: Database.Database, file: string): number {
  try {
    return db.pragma("user_version", { simple: true }) as number;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT") {
      throw new UserError(`The database ${file} is not a dat database (or is damaged).`, {
        code: "DB_CORRUPT",
        hint: "Move the file away and run the command again; it was not changed.",
        cause: error,
      });
    }
    throw error;
  }
}

function checkMigrationList(list: readonly Migration[]): void {
  const seen = new Set<number>();
  for (const m of list) {
    if (!Number.isInteger(m.version) || m.version <= 0 || seen.has(m.version)) {
      throw new Error(`Bad migration list: version ${m.version} (${m.name}) is not a unique positive integer`);
    }
    seen.add(m.version);
  }
}

/**
 * Apply each pending migration in its own IMMEDIATE transaction. The version is read again inside
 * the transaction, so two processes opening a fresh home at once apply each migration exactly once.
 */
function applyMigrations(db: Database.Database, list: readonly Migration[]): void {
  for (const migration of list) {
    const apply = db.transaction(() => {
      const version = db.pragma("user_version", { simple: true }) as number;
      if (version >= migration.version) return;
      db.exec(migration.up);
      db.pragma(`user_version = ${migration.version}`);
    });
    apply.immediate();
  }
}

/** The schema version of a database, read without changing anything (for `dat doctor`). */
export function inspectDatabase(home: string): { file: string; exists: boolean; version?: number; latest: number; integrity?: string } {
  const file = databasePath(home);
  const latest = latestSchemaVersion();
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (error) {
    if ((error as { code?: string }).code === "SQLITE_CANTOPEN") return { file, exists: false, latest };
    throw error;
  }
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    const version = readUserVersion(db, file);
    const integrity = db.pragma("quick_check", { simple: true }) as string;
    return { file, exists: true, version, latest, integrity };
  } finally {
    db.close();
  }
}
