/**
 * The one place that prints. Human output goes to stdout (results) and stderr (logs, progress);
 * under --json stdout carries exactly one JSON document and everything else goes to stderr.
 * Colour only on a TTY and never with NO_COLOR; spinners and bars only on a TTY.
 */
import type { Ora } from "ora";
import type { SingleBar } from "cli-progress";
import { Chalk, type ChalkInstance } from "chalk";
import { ExitCode, isDatError } from "../core/errors.js";

export interface OutputOptions {
  json: boolean;
  quiet: boolean;
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
}

export interface Spinner {
  text(message: string): void;
  succeed(message?: string): void;
  fail(message?: string): void;
  stop(): void;
}

export interface ProgressBar {
  /** Draw the bar: `total` steps, and the first values of the format's payload tokens. */
  start(total: number, payload: Record<string, string | number>): void;
  /** Advance to `value` out of the total, with new values for the payload tokens. */
  update(value: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

export class Output {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly color: ChalkInstance;
  private readonly stdout: NodeJS.WriteStream;
  private readonly stderr: NodeJS.WriteStream;
  private resultWritten = false;
  /** Lines of logLine() not written yet (see there). */
  private pendingLog = "";
  private readonly flushLog = (): void => {
    if (!this.pendingLog) return;
    const lines = this.pendingLog;
    this.pendingLog = "";
    process.off("exit", this.flushLog);
    this.err(lines);
  };

  constructor(options: OutputOptions) {
    this.json = options.json;
    this.quiet = options.quiet;
    this.stdout = options.stdout ?? process.stdout;
    this.stderr = options.stderr ?? process.stderr;
    const colorAllowed = Boolean(this.stderr.isTTY) && !process.env.NO_COLOR && !this.json;
    this.color = new Chalk({ level: colorAllowed ? 1 : 0 });
  }

  /** Whether interactive decorations (spinners, bars, prompts) make sense. */
  get interactive(): boolean {
    return Boolean(this.stderr.isTTY) && !this.json && !this.quiet;
  }

  /**
   * The command's result: one JSON document under --json, else the human rendering on stdout.
   * Call once per command.
   */
  result<T>(data: T, render?: (data: T, color: ChalkInstance) => string | string[]): void {
    if (this.resultWritten) throw new Error("Output.result called twice: --json must print one document");
    this.resultWritten = true;
    this.flushLog();
    if (this.json) {
      this.stdout.write(JSON.stringify(data, jsonReplacer) + "\n");
      return;
    }
    if (!render) return;
    const text = render(data, this.color);
    const lines = Array.isArray(text) ? text : [text];
    if (lines.length > 0) this.stdout.write(lines.join("\n") + "\n");
  }

  /** Progress and status lines, on stderr; silenced by --quiet. */
  info(message: string): void {
    if (!this.quiet) this.err(message + "\n");
  }

  success(message: string): void {
    if (!this.quiet) this.err(this.color.green("✔ ") + message + "\n");
  }

  warn(message: string): void {
    this.err(this.color.yellow("warning: ") + message + "\n");
  }

  /** Structured event lines (one JSON object per line) on stderr under --json, for live progress. */
  event(type: string, data: Record<string, unknown>): void {
    if (this.json) this.err(JSON.stringify({ event: type, ...data }, jsonReplacer) + "\n");
  }

  /**
   * A line of a busy log (dat serve's one line per request): the event() line under --json, else
   * `text` as info() prints it. The lines are gathered and written together once per turn of the
   * event loop, and before any other line or the result, so their order is kept: stderr is written
   * synchronously (pipes, files, terminals), and one write per request woke the reader and cost the
   * server more than the request's own bookkeeping. Lines still pending at exit are written then.
   */
  logLine(type: string, data: Record<string, unknown>, text: string): void {
    let line: string;
    if (this.json) line = JSON.stringify({ event: type, ...data }, jsonReplacer) + "\n";
    else if (!this.quiet) line = text + "\n";
    else return;
    if (!this.pendingLog) {
      setImmediate(this.flushLog);
      process.once("exit", this.flushLog);
    }
    this.pendingLog += line;
  }

  /** Writes to stderr after any pending logLine() lines. */
  private err(text: string): void {
    if (this.pendingLog) this.flushLog();
    this.stderr.write(text);
  }

  /** A spinner on a TTY; plain log lines elsewhere. */
  async spinner(message: string): Promise<Spinner> {
    if (!this.interactive) {
      this.info(message);
      return {
        text: () => {},
        succeed: (m) => m && this.success(m),
        fail: (m) => m && this.err(m + "\n"),
        stop: () => {},
      };
    }
    const { default: ora } = await import("ora");
    this.flushLog();
    const spin: Ora = ora({ text: message, stream: this.stderr }).start();
    return {
      text: (m) => { spin.text = m; },
      succeed: (m) => { spin.succeed(m); },
      fail: (m) => { spin.fail(m); },
      stop: () => { spin.stop(); },
    };
  }

  /**
   * One bar that redraws in place on a TTY (format: cli-progress tokens such as {bar}, {value},
   * {total} and payload tokens given to start/update); nothing at all elsewhere or under --json.
   * Loaded here, started later: callbacks that learn the total are synchronous.
   */
  async progress(format: string): Promise<ProgressBar> {
    if (!this.interactive) return { start: () => {}, update: () => {}, stop: () => {} };
    const { default: cliProgress } = await import("cli-progress");
    const bar: SingleBar = new cliProgress.SingleBar(
      { format, stream: this.stderr, hideCursor: true, clearOnComplete: false, stopOnComplete: false, barsize: 24 },
      cliProgress.Presets.shades_classic,
    );
    let running = false;
    return {
      start: (total, payload) => {
        if (running) bar.stop();
        // Every payload token needs a value from the first draw on, or cli-progress prints "{token}".
        bar.start(total, 0, payload);
        running = true;
      },
      update: (v, p) => { if (running) bar.update(v, p); },
      stop: () => {
        if (running) bar.stop();
        running = false;
      },
    };
  }

  /** Print an error: one line and a hint for users' mistakes, a stack and a plea for bugs. */
  error(error: unknown): number {
    if (isDatError(error)) {
      if (this.json) {
        const body: Record<string, unknown> = { code: error.code, message: error.message };
        if (error.hint) body.hint = error.hint;
        if (error.details.length) body.details = error.details;
        if (error.data) Object.assign(body, { data: error.data });
        this.writeJsonError(body);
      } else {
        this.err(this.color.red("error: ") + error.message + "\n");
        for (const line of error.details) this.err("  " + line + "\n");
        if (error.hint) this.err(this.color.dim("hint: ") + error.hint + "\n");
      }
      return error.exitCode;
    }
    const err = error instanceof Error ? error : new Error(String(error));
    if (this.json) {
      this.writeJsonError({ code: "INTERNAL", message: err.message, stack: err.stack });
    } else {
      this.err(this.color.red("internal error: ") + (err.stack ?? err.message) + "\n");
      this.err("This is a bug in dat. Please report it with the command you ran and the output above.\n");
    }
    return ExitCode.internal;
  }

  private writeJsonError(body: Record<string, unknown>): void {
    if (this.resultWritten) {
      // A result already went to stdout: keep stdout one document, put the error on stderr.
      this.err(JSON.stringify({ error: body }) + "\n");
      return;
    }
    this.resultWritten = true;
    this.stdout.write(JSON.stringify({ error: body }, jsonReplacer) + "\n");
  }
}

/** bigint (token amounts, gas) as decimal strings; typed arrays never dumped whole. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (ArrayBuffer.isView(value)) return `<${value.byteLength} bytes>`;
  return value;
}

/** Render rows as an aligned plain-text table. */
export function formatTable(headers: string[], rows: (string | number)[][]): string[] {
  const cells = [headers, ...rows.map((r) => r.map((c) => String(c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd());
}
