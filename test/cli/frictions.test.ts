/**
 * The frictions of issue 16 ("Crashes and wrong codes", "Noise", "Output"), each through the built
 * CLI as a real child process: EPIPE, a busy port, inputs checked before the network, a second
 * submission refused before training, unknown jobs, formatted output, the tfjs banner, the
 * progress bar on a real pseudo-terminal, and `dat infer` reading what `dat train` reads.
 */
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { gzipSync } from "node:zlib";
import { getAddress } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanEnv, datBin, jsonOf, removeTempDirs, repoRoot, runDat, tempDir, type DatRun } from "./helpers.js";

const PASS = "frictions-passphrase";
const env = { DAT_PASSPHRASE: PASS };
const BANNER = "looks like you are running TensorFlow.js";
const MODEL = path.join(repoRoot, "fixtures", "mlp-tabular");

/** A small separable 3-class table with 8 features and a label column, written without dat's code. */
function writeCsv(file: string, rows: number, seed: number): void {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const lines = [[...Array.from({ length: 8 }, (_, i) => `f${i}`), "label"].join(",")];
  for (let i = 0; i < rows; i++) {
    const label = i % 3;
    lines.push([...Array.from({ length: 8 }, (_, k) => (k % 3 === label ? 2 : 0) + rand() - 0.5).map((v) => v.toFixed(4)), label].join(","));
  }
  fs.writeFileSync(file, lines.join("\n") + "\n");
}

function errorOf(run: DatRun): { code: string; message: string; hint?: string } {
  return jsonOf(run).error;
}

afterAll(() => removeTempDirs());

describe("crashes and wrong codes", () => {
  it("ends quietly with exit 0 when the reader of stdout goes away (dat … --help | head)", async () => {
    for (const args of [["--help"], ["round", "--help"], ["train", "--help"]]) {
      const run = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [datBin, ...args], { cwd: repoRoot, env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] });
        // The reader is gone before dat writes a byte: every write to stdout fails with EPIPE.
        child.stdout.destroy();
        let stderr = "";
        child.stderr.on("data", (d) => (stderr += d));
        child.on("error", reject);
        child.on("close", (code) => resolve({ code, stderr }));
      });
      expect(run.code, `${args.join(" ")}: ${run.stderr}`).toBe(0);
      expect(run.stderr).not.toMatch(/EPIPE|internal error/);
    }
  });

  it("reports a busy port as a user error (exit 3) with a --port hint, not as a bug", async () => {
    const { home } = tempDir();
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const run = await runDat(["--home", home, "--json", "serve", "--host", "127.0.0.1", "--port", String(port)], { env });
      expect(run.code, run.stderr).toBe(3);
      const error = errorOf(run);
      expect(error.code).toBe("PORT_IN_USE");
      expect(error.message).toContain(String(port));
      expect(error.hint).toContain("--port");
      const human = await runDat(["--home", home, "serve", "--host", "127.0.0.1", "--port", String(port)], { env });
      expect(human.code).toBe(3);
      expect(human.stderr).not.toContain("This is a bug in dat");
    } finally {
      blocker.close();
    }
  });
});

describe("one home running a job (embedded orchestrator)", () => {
  let home: string;
  let dir: string;
  let data: string;
  let address: string;
  let jobId: string;
  const dat = (args: string[]) => runDat(["--home", home, ...args], { env });

  beforeAll(async () => {
    ({ home, dir } = tempDir());
    data = path.join(dir, "c.csv");
    writeCsv(data, 90, 7);
    writeCsv(path.join(dir, "val.csv"), 60, 99);
    const init = await dat(["--json", "init"]);
    expect(init.code, init.stderr).toBe(0);
    address = jsonOf(init).address;
    const created = await dat([
      "--json", "job", "create", "--model", MODEL, "--rounds", "2", "--min-contributors", "1", "--deadline", "10m", "--epochs", "1",
      "--batch-size", "16", "--lr", "0.05", "--reward", "35.02043504514656468", "--gate-min", "0", "--validation", path.join(dir, "val.csv"), "--label-column", "label",
    ]);
    expect(created.code, created.stderr).toBe(0);
    jobId = String(jsonOf(created).id);
    const registered = await dat(["--json", "node", "register"]);
    expect(registered.code, registered.stderr).toBe(0);
  });

  it("checks local inputs before any network call: train, push, job create", async () => {
    // No round is collecting yet: before the fix this said "no round collecting" and never named the file.
    const train = await dat(["--json", "train", "--job", jobId, "--data", path.join(dir, "nope.csv")]);
    expect(train.code).toBe(4);
    expect(errorOf(train).code).toBe("DATA_NOT_FOUND");
    expect(errorOf(train).message).toContain("nope.csv");
    const local = await dat(["--json", "train", "--model", MODEL, "--data", path.join(dir, "nope.csv")]);
    expect(errorOf(local).code).toBe("DATA_NOT_FOUND");
    const noModel = await dat(["--json", "train", "--model", path.join(dir, "nope-model"), "--data", data]);
    expect(noModel.code).toBe(4);
    expect(errorOf(noModel).code).toBe("MODEL_NOT_FOUND");

    const push = await dat(["--json", "push", "--job", jobId]);
    expect(push.code).toBe(4);
    expect(errorOf(push).code).toBe("NO_DELTA");

    const create = await dat([
      "--json", "job", "create", "--model", MODEL, "--rounds", "1", "--min-contributors", "1", "--deadline", "10m", "--epochs", "1",
      "--batch-size", "16", "--lr", "0.05", "--reward", "1", "--validation", path.join(dir, "missing-val.csv"), "--label-column", "label",
    ]);
    expect(create.code).toBe(4);
    expect(errorOf(create).code).toBe("DATA_NOT_FOUND");
    expect(errorOf(create).message).toContain("missing-val.csv");
    const list = await dat(["--json", "job", "list"]);
    expect(jsonOf(list)).toHaveLength(1);
  });

  it("exits 4 for an unknown job in every command that names one", async () => {
    const runs: [string, string[]][] = [
      ["round status", ["round", "status", "--job", "99"]],
      ["job show", ["job", "show", "99"]],
      ["train --job", ["train", "--job", "99", "--data", data, "--label-column", "label"]],
      ["push", ["push", "--job", "99"]],
      ["model eval --job", ["model", "eval", "--job", "99", "--data", data, "--label-column", "label"]],
      ["infer", ["infer", "--job", "99", "--input", data]],
    ];
    for (const [name, args] of runs) {
      const run = await dat(["--json", ...args]);
      expect(run.code, `${name}: ${run.stdout}${run.stderr}`).toBe(4);
      expect(["JOB_NOT_FOUND", "NO_DELTA"], name).toContain(errorOf(run).code);
    }
  });

  it("refuses a second train in the same round before training (exit 5), with no tfjs banner anywhere", async () => {
    const opened = await dat(["--json", "round", "open", "--job", jobId]);
    expect(opened.code, opened.stderr).toBe(0);
    const first = await dat(["--json", "train", "--job", jobId, "--data", data, "--label-column", "label"]);
    expect(first.code, first.stderr).toBe(0);
    expect(jsonOf(first).pushed).toBe(true);
    expect(first.stderr).not.toContain(BANNER);

    const second = await dat(["--json", "train", "--job", jobId, "--data", data, "--label-column", "label"]);
    expect(second.code, second.stderr).toBe(5);
    expect(errorOf(second).code).toBe("SUBMISSION_DUPLICATE");
    // Refused before any training: no start or epoch event was emitted.
    expect(second.stderr).not.toMatch(/"event":"(train-start|epoch)"/);

    const closed = await dat(["--json", "round", "close", "--job", jobId]);
    expect(closed.code, closed.stderr).toBe(0);
    expect(jsonOf(closed).state).toBe("published");
    expect(closed.stderr).not.toContain(BANNER);
  });

  it("prints amounts with at most 4 decimals, percentages one way and checksummed addresses; --json stays exact", async () => {
    const shown = await dat(["job", "show", jobId]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain("reward per round: 35.0204 DAT");
    expect(shown.stdout).not.toContain("35020435045146564680");
    expect(shown.stdout).toMatch(/1\s+published\s+1\s+\d+\.\d{4}\s+\d{1,3}\.\d%/);
    const json = await dat(["--json", "job", "show", jobId]);
    expect(jsonOf(json).rewardPerRound).toBe("35020435045146564680");

    const status = await dat(["round", "status", "--job", jobId]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(getAddress(address));
    expect(status.stdout).not.toContain(address.toLowerCase());
  });

  it("infers from every record format dat train reads", async () => {
    const rows = [[2, 0, 0, 2, 0, 0, 2, 0], [0, 2, 0, 0, 2, 0, 0, 2]];
    const jsonl = path.join(dir, "records.jsonl");
    fs.writeFileSync(jsonl, rows.map((x, i) => JSON.stringify({ x, y: i })).join("\n") + "\n");
    const json = path.join(dir, "records.json");
    fs.writeFileSync(json, JSON.stringify(rows.map((x) => ({ x }))));
    for (const [file, count] of [[jsonl, 2], [json, 2], [data, 90]] as const) {
      const run = await dat(["--json", "infer", "--job", jobId, "--input", file]);
      expect(run.code, `${file}: ${run.stdout}${run.stderr}`).toBe(0);
      expect(jsonOf(run).predictions).toHaveLength(count);
    }
    const bad = path.join(dir, "bad.jsonl");
    fs.writeFileSync(bad, JSON.stringify({ x: [1, 2] }) + "\n");
    const refused = await dat(["--json", "infer", "--job", jobId, "--input", bad]);
    expect(refused.code).toBe(3);
    expect(errorOf(refused).code).toBe("INPUT_SHAPE");
  });

  it("draws one progress bar that redraws in place on a terminal, and none without one", async () => {
    const args = ["--home", home, "train", "--model", MODEL, "--data", data, "--label-column", "label", "--epochs", "3", "--batch-size", "8", "--backend", "cpu"];
    const hasScript = spawnSync("script", ["--version"]).status === 0;
    if (hasScript) {
      const command = [process.execPath, datBin, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
      // `script` gives dat a real pseudo-terminal, as a user's shell does.
      const tty = await new Promise<string>((resolve, reject) => {
        const child = spawn("script", ["-qfec", command, "/dev/null"], { cwd: repoRoot, env: cleanEnv({ ...env, NO_COLOR: "1", COLUMNS: "120" }) });
        let out = "";
        child.stdout.on("data", (d) => (out += d));
        child.on("error", reject);
        child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}:\n${out}`))));
      });
      expect(tty).not.toMatch(/\{(loss|rate|epoch|epochs)\}/);
      expect(tty).toMatch(/epoch 3\/3 \[.*\] 100% \| loss \d+\.\d{4} \| \d+ samples\/s/);
      // Redrawn in place: every state of the bar is on one terminal line.
      const barLines = tty.split("\n").filter((l) => /epoch \d\/3 \[/.test(l));
      expect(barLines).toHaveLength(1);
      expect(tty).not.toContain(BANNER);
    }
    const piped = await runDat(args, { env });
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stderr).not.toMatch(/[\u2588\u2591]|\{loss\}/);
    expect(piped.stderr).toMatch(/epoch 3: loss \d/);
    expect(piped.stderr).not.toContain(BANNER);
  });
});

describe("dat job create says whether the job is gated", () => {
  it("a job without --min-stake or --gate-min is public, and the command and job show say so", async () => {
    const { home } = tempDir();
    expect((await runDat(["--home", home, "--json", "init"], { env })).code).toBe(0);
    const base = ["--home", home, "job", "create", "--model", MODEL, "--rounds", "1", "--min-contributors", "1", "--deadline", "10m", "--epochs", "1", "--batch-size", "16", "--lr", "0.05", "--reward", "0"];
    const created = await runDat(["--json", ...base], { env });
    expect(created.code, created.stderr).toBe(0);
    expect(jsonOf(created)).toMatchObject({ gate: null, minStake: null, note: "public: no --min-stake, so anyone who registers gets the model; add --min-stake to gate it" });
    const human = await runDat(base, { env });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stderr).toContain("warning: public: no --min-stake");
    const explicit = await runDat(["--json", ...base, "--gate-min", "0"], { env });
    expect(jsonOf(explicit)).toMatchObject({ gate: null, note: expect.stringMatching(/^public: --gate-min 0/) });
    const shown = await runDat(["--home", home, "job", "show", String(jsonOf(created).id)], { env });
    expect(shown.stdout).toContain("gate: none (public model: no minimum stake, so anyone who registers gets it)");
  });
});

describe("prompts before waits", () => {
  it("round start unlocks the wallet its settlement needs before it opens a round or waits", async () => {
    const { home } = tempDir();
    expect((await runDat(["--home", home, "--json", "init"], { env })).code).toBe(0);
    const created = await runDat([
      "--home", home, "--json", "job", "create", "--model", MODEL, "--rounds", "1", "--min-contributors", "2", "--deadline", "10m",
      "--epochs", "1", "--batch-size", "16", "--lr", "0.05", "--reward", "1",
    ], { env });
    expect(created.code, created.stderr).toBe(0);
    // A configured deployment: the round would settle on chain, which needs the operator's wallet.
    const configFile = path.join(home, "config.json");
    const config = JSON.parse(fs.readFileSync(configFile, "utf8"));
    const a = (n: number) => "0x" + String(n).repeat(40);
    config.chain = { ...config.chain, deployments: { "31337": { token: a(1), registry: a(2), distributor: a(3), blockNumber: 0 } } };
    fs.writeFileSync(configFile, JSON.stringify(config, null, 2));

    const start = await runDat(["--home", home, "--json", "round", "start", "--job", "1", "--deadline", "3s"], { env: { DAT_PASSPHRASE: undefined } });
    expect(start.code, start.stderr).toBe(3);
    expect(errorOf(start).code).toBe("PASSPHRASE_REQUIRED");
    const wrong = await runDat(["--home", home, "--json", "round", "start", "--job", "1", "--deadline", "3s"], { env: { DAT_PASSPHRASE: "wrong" } });
    expect(wrong.code, wrong.stderr).toBe(3);
    expect(errorOf(wrong).code).toBe("WRONG_PASSPHRASE");
    // Nothing was opened: no round exists to wait on.
    const status = await runDat(["--home", home, "--json", "round", "status", "--job", "1"], { env });
    expect(status.code).toBe(4);
    expect(errorOf(status).code).toBe("ROUND_NOT_FOUND");
  });
});

describe("inference inputs in training formats", () => {
  it("reads an IDX images file, plain and gzipped", async () => {
    const { parseInputs, detectFormat } = await import("../../src/inference/inputs.js");
    const header = Buffer.from([0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2]);
    const idx = Buffer.concat([header, Buffer.from([0, 255, 51, 102, 255, 0, 0, 0])]);
    for (const [name, bytes] of [["t10k-images-idx3-ubyte", idx], ["t10k-images-idx3-ubyte.gz", gzipSync(idx)]] as const) {
      expect(detectFormat(name, bytes)).toBe("idx");
      const parsed = parseInputs(bytes, "idx", { shape: [2, 2, 1] }, name);
      expect(parsed.count).toBe(2);
      expect(Array.from(parsed.values)).toEqual(Array.from(new Float32Array([0, 1, 0.2, 0.4, 1, 0, 0, 0])));
    }
    expect(() => parseInputs(idx, "idx", { shape: [3] }, "x")).toThrow(/expects 3/);
    expect(() => parseInputs(idx.subarray(0, 20), "idx", { shape: [2, 2, 1] }, "x")).toThrow(/holds 4 bytes/);
    expect(() => parseInputs(Buffer.from([1, 2, 3, 4]), "idx", { shape: [2, 2, 1] }, "x")).toThrow(/magic/);
  });
});
