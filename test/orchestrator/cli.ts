/** Running the built CLI as a child process in the orchestrator tests. */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const BIN = path.join(ROOT, "bin", "dat.js");

export const TEST_ENV = { ...process.env, DAT_SCRYPT_N: "1024", DAT_PASSPHRASE: "test-passphrase-123", NO_COLOR: "1", DAT_OPERATOR_TOKEN: "operator-token-e2e-0123456789" };

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  json: any;
}

/** Runs `dat --home <home> …args` to completion. */
export function dat(home: string, args: string[], env: NodeJS.ProcessEnv = TEST_ENV): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, "--home", home, ...args], { env, cwd: ROOT });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => {
      let json: unknown;
      try {
        json = JSON.parse(stdout.trim().split("\n").at(-1) ?? "");
      } catch {
        json = undefined;
      }
      resolve({ code: code ?? -1, stdout, stderr, json });
    });
  });
}

/** Starts `dat serve --port 0 --json` and resolves with its URL once the ready event is printed. */
export function startServe(home: string, timeoutMs = 60_000): Promise<{ url: string; child: ChildProcess; stderr: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, "--home", home, "--json", "serve", "--port", "0"], { env: TEST_ENV, cwd: ROOT });
    let stderr = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`dat serve did not get ready in ${timeoutMs} ms:\n${stderr}`));
    }, timeoutMs);
    child.stderr.on("data", (d) => {
      stderr += d;
      for (const line of stderr.split("\n")) {
        if (!line.startsWith("{")) continue;
        try {
          const event = JSON.parse(line) as { event?: string; url?: string };
          if (event.event === "ready" && event.url) {
            clearTimeout(timer);
            resolve({ url: event.url, child, stderr: () => stderr });
            return;
          }
        } catch {
          // a partial line: wait for more
        }
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`dat serve exited with ${code} before it was ready:\n${stderr}`));
    });
  });
}

/** Waits for a child to exit. */
export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

/** Writes a CSV (f0..fN, label) of synthetic tabular data. */
export async function writeTabularCsv(file: string, count: number, seed: number, spread = 1.5): Promise<void> {
  const { syntheticTabular, materialize } = await import("../../src/train/index.js");
  const source = syntheticTabular({ count, seed, spread });
  const { x, y } = await materialize(source);
  const f = source.featureShape[0];
  const lines = [[...Array.from({ length: f }, (_, i) => `f${i}`), "label"].join(",")];
  for (let i = 0; i < count; i++) lines.push([...Array.from(x.subarray(i * f, (i + 1) * f), (v) => v.toFixed(5)), String(y[i])].join(","));
  fs.writeFileSync(file, lines.join("\n") + "\n");
}
