import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const datBin = path.join(repoRoot, "bin", "dat.js");

export interface DatRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunDatOptions {
  env?: Record<string, string | undefined>;
  /** Written to the child's stdin (which is a pipe, never a TTY). */
  input?: string;
  /** Extra node flags, before the script. */
  nodeArgs?: string[];
  /** Another launcher than this checkout's bin/dat.js (an installed package's). */
  bin?: string;
  /** Working directory (default: the checkout). */
  cwd?: string;
}

/** The environment of the test process without any DAT_* variable, fast scrypt, no colour. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("DAT_") && k !== "CI") env[k] = v;
  Object.assign(env, { DAT_SCRYPT_N: "1024", NO_COLOR: "1" }, extra);
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  return env;
}

/** Run the built CLI as a real child process: `node bin/dat.js …args`. */
export function runDat(args: string[], options: RunDatOptions = {}): Promise<DatRun> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.bin ?? datBin, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: cleanEnv(options.env),
    stdio: ["pipe", "pipe", "pipe"],
  });
  child.stdin.end(options.input ?? "");
  return collect(child).then(({ status, stdout, stderr }) => ({ code: status, stdout, stderr }));
}

export interface ProcessRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** A child's exit status and everything it wrote, once it has ended. */
function collect(child: ChildProcess): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

/**
 * Runs a command to its end without blocking this process (stdin closed). A synchronous child of
 * a minute stalls the test worker's event loop, and vitest's 60 s RPC timer fires when it turns.
 */
export function runToEnd(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<ProcessRun> {
  return collect(spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, timeout: options.timeoutMs ?? 600_000, stdio: ["ignore", "pipe", "pipe"] }));
}

/** Parse stdout as exactly one JSON document. */
export function jsonOf(run: DatRun): any {
  const text = run.stdout.trim();
  if (text.split("\n").length !== 1) throw new Error(`stdout is not one JSON line:\n${run.stdout}\nstderr:\n${run.stderr}`);
  return JSON.parse(text);
}

const made: string[] = [];
/** A fresh temporary folder; `home` inside it does not exist yet. */
export function tempDir(): { dir: string; home: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dat-cli-"));
  made.push(dir);
  return { dir, home: path.join(dir, "home") };
}

export function removeTempDirs(): void {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}
