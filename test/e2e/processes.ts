/**
 * Process helpers for end-to-end tests: each dat role runs as a separate process of the built CLI
 * (bin/dat.js) with its own --home. No sleeps: long-running processes are waited on through their
 * readiness output, state through polling with deadlines; `stopAll` ends every process started.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const ROOT = path.resolve(__dirname, "../..");
export const BIN = path.join(ROOT, "bin", "dat.js");
export const PASSPHRASE = "e2e-passphrase";
export const ENV = { ...process.env, DAT_PASSPHRASE: PASSPHRASE, DAT_SCRYPT_N: "1024", NO_COLOR: "1", CI: "true" };

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Home {
  name: string;
  home: string;
  address: string;
}

/** A long-running --json process whose stderr event lines and stdout lines are collected as they come. */
export interface Collector {
  child: ChildProcess;
  events: Record<string, unknown>[];
  lines: string[];
  log: string[];
  exited: Promise<number | null>;
}

/** Poll `check` until it returns a value, or fail at the deadline. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, deadlineMs = 60_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * One test file's processes: every child it starts is remembered so `stopAll` (in afterAll) can end
 * it, SIGTERM first, SIGKILL after 5 s; `tmp` is a fresh folder removed by `stopAll`.
 */
export function e2eProcesses(prefix: string) {
  const children: ChildProcess[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));

  function spawnDat(args: string[]): ChildProcess {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: ENV, stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    return child;
  }

  /** Run a dat command to completion. */
  function dat(args: string[], options: { timeoutMs?: number } = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const child = spawnDat(args);
      let stdout = "";
      let stderr = "";
      child.stdout!.on("data", (d) => (stdout += d));
      child.stderr!.on("data", (d) => (stderr += d));
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`dat ${args.join(" ")} ran past ${options.timeoutMs ?? 120_000} ms\n${stderr}`));
      }, options.timeoutMs ?? 120_000);
      child.on("error", reject);
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** Run a dat --json command that must succeed; returns its one stdout document. */
  async function datJson<T = Record<string, unknown>>(args: string[], options: { timeoutMs?: number } = {}): Promise<T> {
    const run = await dat(["--json", ...args], options);
    if (run.code !== 0) throw new Error(`dat ${args.join(" ")} exited ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
    return JSON.parse(run.stdout) as T;
  }

  /**
   * Start a long-running dat --json command and resolve with its readiness document once printed:
   * its first stdout document, or a `{"event":"ready",…}` line on stderr, whichever comes first.
   * Rejects at the deadline or when the process exits first.
   */
  function startDaemon<T>(args: string[], deadlineMs = 60_000): Promise<{ child: ChildProcess; ready: T }> {
    return new Promise((resolve, reject) => {
      const child = spawnDat(["--json", ...args]);
      let stdout = "";
      let stderr = "";
      let done = false;
      const timer = setTimeout(() => reject(new Error(`dat ${args.join(" ")} not ready within ${deadlineMs} ms\n${stderr}`)), deadlineMs);
      const ready = (doc: T) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve({ child, ready: doc });
      };
      child.stderr!.on("data", (d) => {
        stderr += d;
        for (const line of stderr.split("\n").slice(0, -1)) {
          if (!line.startsWith("{")) continue;
          const event = JSON.parse(line) as { event?: string };
          if (event.event === "ready") ready(event as T);
        }
      });
      child.stdout!.on("data", (d) => {
        stdout += d;
        const line = stdout.split("\n").slice(0, -1).find((l) => l.trim().startsWith("{"));
        if (line) ready(JSON.parse(line) as T);
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        if (!done) reject(new Error(`dat ${args.join(" ")} exited ${code} before it was ready\n${stderr}`));
      });
    });
  }

  /** Start a long-running --json process and collect its event lines (stderr) and output lines (stdout). */
  function startCollector(args: string[]): Collector {
    const child = spawnDat(["--json", ...args]);
    const events: Record<string, unknown>[] = [];
    const lines: string[] = [];
    const log: string[] = [];
    let err = "";
    let out = "";
    child.stderr!.on("data", (d) => {
      err += d;
      const parts = err.split("\n");
      err = parts.pop()!;
      log.push(...parts);
      for (const l of parts) if (l.startsWith("{")) events.push(JSON.parse(l) as Record<string, unknown>);
    });
    child.stdout!.on("data", (d) => {
      out += d;
      const parts = out.split("\n");
      out = parts.pop()!;
      lines.push(...parts.filter((l) => l.trim()));
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    return { child, events, lines, log, exited };
  }

  /** `dat init` a fresh home under tmp. */
  async function initHome(name: string): Promise<Home> {
    const home = path.join(tmp, name);
    const out = await datJson<{ address: string }>(["--home", home, "init"]);
    return { name, home, address: out.address };
  }

  /** End every process this file started (SIGTERM, SIGKILL after 5 s) and remove tmp. */
  async function stopAll(): Promise<void> {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    }
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const hard = setTimeout(() => child.kill("SIGKILL"), 5_000);
            child.once("exit", () => {
              clearTimeout(hard);
              resolve();
            });
          }),
      ),
    );
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  return { tmp, dat, datJson, startDaemon, startCollector, initHome, stopAll };
}
