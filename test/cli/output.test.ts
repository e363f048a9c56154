import { describe, expect, it } from "vitest";
import { Output } from "../../src/cli/output.js";

/** A stderr double that records each write call (the real one is synchronous on pipes and files). */
function recorder(): { stream: NodeJS.WriteStream; writes: string[] } {
  const writes: string[] = [];
  const stream = { isTTY: false, write: (chunk: string) => { writes.push(String(chunk)); return true; } } as unknown as NodeJS.WriteStream;
  return { stream, writes };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("Output.logLine (dat serve's request log)", () => {
  it("writes the same JSON lines as event(), gathered into one write per turn of the event loop", async () => {
    const err = recorder();
    const out = new Output({ json: true, quiet: false, stderr: err.stream, stdout: recorder().stream });
    const lines = [
      { method: "POST", url: "/jobs/1/rounds/1/submissions", status: 200, ms: 3 },
      { method: "GET", url: "/jobs/1", status: 404, ms: 1 },
      { method: "POST", url: "/nodes", status: 429, ms: 0 },
    ];
    for (const r of lines) out.logLine("request", r, `${r.method} ${r.url} ${r.status} ${r.ms}ms`);
    expect(err.writes).toEqual([]);
    await turn();
    expect(err.writes).toHaveLength(1);
    expect(err.writes[0].split("\n").filter(Boolean).map((l) => JSON.parse(l))).toEqual(lines.map((r) => ({ event: "request", ...r })));

    // The same content event() writes, line for line.
    const direct = recorder();
    const reference = new Output({ json: true, quiet: false, stderr: direct.stream, stdout: recorder().stream });
    for (const r of lines) reference.event("request", r);
    expect(err.writes.join("")).toBe(direct.writes.join(""));
  });

  it("keeps the order: pending lines go out before any other stderr line or the result", () => {
    const err = recorder();
    const stdout = recorder();
    const out = new Output({ json: false, quiet: false, stderr: err.stream, stdout: stdout.stream });
    out.logLine("request", { method: "GET", url: "/health", status: 200, ms: 0 }, "GET /health 200 0ms");
    out.info("stopping");
    expect(err.writes).toEqual(["GET /health 200 0ms\n", "stopping\n"]);
    out.logLine("request", { method: "GET", url: "/nodes", status: 200, ms: 1 }, "GET /nodes 200 1ms");
    out.result({ stopped: true }, () => ["dat serve stopped"]);
    expect(err.writes.at(-1)).toBe("GET /nodes 200 1ms\n");
    expect(stdout.writes).toEqual(["dat serve stopped\n"]);
  });

  it("prints nothing under --quiet without --json, as info() does", async () => {
    const err = recorder();
    const out = new Output({ json: false, quiet: true, stderr: err.stream, stdout: recorder().stream });
    out.logLine("request", { method: "GET", url: "/health", status: 200, ms: 0 }, "GET /health 200 0ms");
    await turn();
    expect(err.writes).toEqual([]);
  });
});
