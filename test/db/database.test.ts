import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { databasePath, inspectDatabase, latestSchemaVersion, openDatabase, type Migration } from "../../src/db/index.js";
import { migrations } from "../../src/db/migrations/index.js";
import { getMeta, setMeta, setMetaOnce } from "../../src/db/meta.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const homes: string[] = [];
function tempHome(): string {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "dat-db-"));
  homes.push(home);
  return home;
}
afterEach(() => {
  for (const h of homes.splice(0)) fs.rmSync(h, { recursive: true, force: true });
});

function hashFiles(home: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of fs.readdirSync(home).sort()) {
    out[name] = crypto.createHash("sha256").update(fs.readFileSync(path.join(home, name))).digest("hex");
  }
  return out;
}

describe("openDatabase", () => {
  it("creates the home and a database in WAL mode at the latest schema", () => {
    const home = path.join(tempHome(), "nested", "home");

    const db = openDatabase(home);

    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("foreign_keys", { simple: true })).toBe(1);
    expect(db.pragma("busy_timeout", { simple: true })).toBe(5000);
    expect(db.pragma("user_version", { simple: true })).toBe(latestSchemaVersion());
    setMeta(db, "a", "1");
    setMeta(db, "a", "2");
    expect(getMeta(db, "a")).toBe("2");
    expect(setMetaOnce(db, "a", "3")).toBe("2");
    db.close();
  });

  it("migrates an old database and keeps its rows", () => {
    const home = tempHome();
    const first = migrations.filter((m) => m.version === 1);
    const old = openDatabase(home, { migrations: first });
    setMeta(old, "kept", "yes");
    expect(old.pragma("user_version", { simple: true })).toBe(1);
    old.close();

    const db = openDatabase(home);

    expect(db.pragma("user_version", { simple: true })).toBe(latestSchemaVersion());
    expect(getMeta(db, "kept")).toBe("yes");
    db.close();
  });

  it("rolls back a failing migration entirely and leaves the version where it was", () => {
    const home = tempHome();
    openDatabase(home).close();
    const broken: Migration = { version: 99, name: "broken", up: "CREATE TABLE half (x INTEGER); INSERT INTO nowhere VALUES (1);" };

    expect(() => openDatabase(home, { migrations: [...migrations, broken] })).toThrow(/nowhere/);
    const db = new Database(databasePath(home), { readonly: true });
    const half = db.prepare("SELECT name FROM sqlite_master WHERE name = 'half'").get();
    const version = db.pragma("user_version", { simple: true });
    db.close();

    expect(half).toBeUndefined();
    expect(version).toBe(latestSchemaVersion());
  });

  it("refuses a database from a newer schema and changes nothing", () => {
    const home = tempHome();
    const raw = new Database(databasePath(home));
    raw.exec("CREATE TABLE future (x INTEGER); INSERT INTO future VALUES (42);");
    raw.pragma("user_version = 999");
    raw.close();
    const before = hashFiles(home);

    let error: any;
    try {
      openDatabase(home);
    } catch (e) {
      error = e;
    }

    expect(error?.code).toBe("DB_TOO_NEW");
    expect(error?.message).toContain("999");
    expect(hashFiles(home)).toEqual(before);
    expect(inspectDatabase(home).version).toBe(999);
  });

  it("refuses a file that is not a database and leaves it alone", () => {
    const home = tempHome();
    fs.writeFileSync(databasePath(home), "this is not sqlite, just some text that is long enough".repeat(20));
    const before = hashFiles(home);

    let code: string | undefined;
    try {
      openDatabase(home);
    } catch (e) {
      code = (e as { code?: string }).code;
    }

    expect(code).toBe("DB_CORRUPT");
    expect(hashFiles(home)).toEqual(before);
  });

  it("reports a home that is a file", () => {
    const home = path.join(tempHome(), "file");
    fs.writeFileSync(home, "x");

    expect(() => openDatabase(home)).toThrow(/not a folder/);
  });

  it("lets two processes write the same fresh home at once without losing a row", async () => {
    const home = tempHome();
    const count = 300;
    const writer = path.join(here, "fixtures", "writer.ts");
    const runWriter = (tag: string) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ["--import", "tsx", writer, home, tag, String(count)], { cwd: root });
        let stderr = "";
        child.stderr.on("data", (d) => (stderr += d));
        child.on("close", (code) => resolve({ code, stderr }));
      });

    const results = await Promise.all([runWriter("a"), runWriter("b")]);

    expect(results.map((r) => r.code), results.map((r) => r.stderr).join("\n")).toEqual([0, 0]);
    const db = openDatabase(home);
    const rows = db.prepare("SELECT count(*) AS n FROM meta WHERE key LIKE 'a.%' OR key LIKE 'b.%'").get() as { n: number };
    const integrity = db.pragma("integrity_check", { simple: true });
    db.close();
    expect(rows.n).toBe(2 * count);
    expect(integrity).toBe("ok");
  });

  it.skipIf(process.platform === "win32")("keeps the database (private models' keys) readable by its owner only", () => {
    // A fresh home: the file and SQLite's -wal/-shm files are 0600 whatever the umask leaves.
    const home = tempHome();
    const previous = process.umask(0o022);
    try {
      const db = openDatabase(home);
      setMeta(db, "written", "yes");
      const file = databasePath(home);
      for (const f of [file, `${file}-wal`, `${file}-shm`]) expect((fs.statSync(f).mode & 0o777).toString(8), f).toBe("600");
      db.close();
      // An older home whose file was created world-readable is narrowed on the next open.
      fs.chmodSync(file, 0o644);
      openDatabase(home).close();
      expect((fs.statSync(file).mode & 0o777).toString(8)).toBe("600");
    } finally {
      process.umask(previous);
    }
  });

  it("finds model keys by plaintext CID through an index", () => {
    const db = openDatabase(tempHome());
    const plan = db.prepare("EXPLAIN QUERY PLAN SELECT model_cid FROM model_keys WHERE plain_cid = ? ORDER BY created_at DESC LIMIT 1").all("x") as { detail: string }[];
    expect(plan.map((p) => p.detail).join(" ")).toMatch(/USING (COVERING )?INDEX model_keys_plain_cid/);
    db.close();
  });
});
