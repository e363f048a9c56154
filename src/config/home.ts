/**
 * The dat home folder ($DAT_HOME, ~/.dat) and safe writes inside it.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import crypto from "node:crypto";
import { UserError } from "../core/errors.js";

export const CONFIG_FILE = "config.json";

/** The home folder from the flag, the environment ($DAT_HOME) or the default (~/.dat), absolute. */
export function resolveHome(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const chosen = flag ?? env.DAT_HOME ?? path.join(os.homedir(), ".dat");
  return path.resolve(chosen);
}
export const KEYSTORE_FILE = "keystore.json";
export const DATABASE_FILE = "dat.db";

/**
 * What is at `home`: a folder, nothing, or something else (a file, a broken parent).
 * A home that is a file is a UserError naming it.
 */
export function inspectHome(home: string): "folder" | "missing" {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(home);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return "missing";
    if (code === "ENOTDIR") throw homeNotFolder(home);
    throw new UserError(`Cannot read the dat home ${home}: ${(error as Error).message}`, {
      code: "HOME_UNREADABLE",
      hint: "Check the folder's permissions, or choose another with --home or DAT_HOME.",
      cause: error,
    });
  }
  if (!stat.isDirectory()) throw homeNotFolder(home);
  return "folder";
}

/** Create the home folder (mode 0700) when missing; refuse a home that is not a folder. */
export function ensureHome(home: string): void {
  if (inspectHome(home) === "folder") return;
  try {
    fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOTDIR" || (error as NodeJS.ErrnoException).code === "EEXIST") {
      throw homeNotFolder(home);
    }
    throw new UserError(`Cannot create the dat home ${home}: ${(error as Error).message}`, {
      code: "HOME_UNWRITABLE",
      hint: "Choose a writable folder with --home or DAT_HOME.",
      cause: error,
    });
  }
}

function homeNotFolder(home: string): UserError {
  return new UserError(`The dat home ${home} is not a folder.`, {
    code: "HOME_NOT_FOLDER",
    hint: "Point --home (or DAT_HOME) at a folder, or move that file away.",
  });
}

export interface WriteAtomicOptions {
  mode?: number;
  /** Fail with EEXIST instead of replacing an existing file (never overwrites, even in a race). */
  exclusive?: boolean;
}

/**
 * Write a file so that readers see either the old or the new content, never a torn one:
 * write and fsync a temporary sibling, then rename (or hard-link, when exclusive) it into place.
 */
export function writeFileAtomic(file: string, content: string | Uint8Array, options: WriteAtomicOptions = {}): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(6).toString("hex")}.tmp`);
  const mode = options.mode ?? 0o644;
  const fd = fs.openSync(tmp, "wx", mode);
  try {
    fs.writeFileSync(fd, content);
    // The umask may have narrowed the mode; a keystore must be exactly what we asked for.
    fs.fchmodSync(fd, mode);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    if (options.exclusive) fs.linkSync(tmp, file);
    else fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}
