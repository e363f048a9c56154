/**
 * Floods against a real `dat serve` (issue 13, "Floods cost the server nothing"): a 200 MB body
 * from an unregistered wallet is refused before it is read (the server's RSS barely moves), a
 * body whose CID is not the signed one leaves no blob, an oversized body from a registered node
 * is refused from its Content-Length, and 2,000 free registrations are bounded (rows, database
 * size, page size of GET /nodes).
 */
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildRegistration, buildSubmission } from "../../src/contributor/submission.js";
import { createHttpOrchestrator } from "../../src/orchestrator/http/client.js";
import type { Orchestrator, RoundInfo } from "../../src/orchestrator/types.js";
import { TEST_ENV, dat, exited, startServe } from "../orchestrator/cli.js";
import { account, constantDelta, jobInput, tempHome, tinyModel } from "../orchestrator/helpers.js";

const MiB = 1024 * 1024;

function rssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  if (!m) throw new Error("no VmRSS");
  return Number(m[1]) * 1024;
}

/** Every file under the home's blob store (names only). */
function blobFiles(home: string): string[] {
  const root = path.join(home, "blobs");
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name).sort();
}

/**
 * POSTs a body of `size` zero bytes, produced lazily in 1 MiB pieces, and resolves with the
 * status and JSON answer as soon as the server answers (the upload may be cut short).
 */
function postLarge(url: string, pathname: string, headers: Record<string, string>, size: number): Promise<{ status: number; body: any; sent: number }> {
  return new Promise((resolve, reject) => {
    const piece = Buffer.alloc(MiB);
    let sent = 0;
    let answered = false;
    const req = http.request(new URL(pathname, url), { method: "POST", headers: { ...headers, "content-length": String(size) } }, (res) => {
      answered = true;
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => {
        req.destroy();
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
        resolve({ status: res.statusCode ?? 0, body, sent });
      });
    });
    req.on("error", (error) => {
      if (!answered) reject(error);
    });
    const pump = (): void => {
      while (sent < size && !answered) {
        const n = Math.min(MiB, size - sent);
        sent += n;
        if (!req.write(n === MiB ? piece : piece.subarray(0, n))) {
          req.once("drain", pump);
          return;
        }
      }
      if (sent >= size) req.end();
    };
    pump();
  });
}

describe("floods against dat serve", () => {
  let home: string;
  let server: { url: string; child: ChildProcess };
  let operator: Orchestrator;
  let round: RoundInfo;
  const honest = account();

  beforeAll(async () => {
    home = tempHome("dat-flood-");
    expect((await dat(home, ["init", "--json"])).code).toBe(0);
    server = await startServe(home);
    operator = createHttpOrchestrator({ url: server.url, operatorToken: TEST_ENV.DAT_OPERATOR_TOKEN, attempts: 1 });
    const { bytes } = await tinyModel();
    await operator.createJob(jobInput(), bytes);
    round = await operator.openRound(1);
    await operator.registerNode(await buildRegistration(honest, "cpu", { cpus: 2 }));
  }, 120_000);

  afterAll(async () => {
    await operator?.close();
    if (server) {
      server.child.kill("SIGTERM");
      await exited(server.child);
    }
    if (home) fs.rmSync(home, { recursive: true, force: true });
  });

  it("refuses a 200 MB body from an unregistered wallet before reading it", async () => {
    const { view } = await tinyModel();
    const mallory = account();
    const built = await buildSubmission({ account: mallory, round, tensors: constantDelta(view, 0.1), sampleCount: 10 });
    const header = Buffer.from(JSON.stringify(built.submission)).toString("base64url");
    const blobsBefore = blobFiles(home);
    const before = rssBytes(server.child.pid!);
    const answers = [];
    for (let i = 0; i < 3; i++) {
      answers.push(await postLarge(server.url, "/jobs/1/rounds/1/submissions", {
        "content-type": "application/octet-stream", "x-dat-submission": header,
      }, 200 * MiB));
    }
    const after = rssBytes(server.child.pid!);
    console.log(`dat serve RSS ${(before / MiB).toFixed(1)} → ${(after / MiB).toFixed(1)} MiB after 3 × 200 MB unauthenticated bodies`);
    for (const a of answers) {
      expect(a.status).toBe(403); // the header's signer is no registered node: refused before the body
      expect(a.body.error.code).toBe("NODE_NOT_REGISTERED");
      expect(a.sent).toBeLessThan(200 * MiB);
    }
    expect(after - before).toBeLessThan(20 * MiB);
    expect(blobFiles(home)).toEqual(blobsBefore);

    // Within the size limit, but unregistered: refused on the signature/registration, body unread.
    const small = await postLarge(server.url, "/jobs/1/rounds/1/submissions", {
      "content-type": "application/octet-stream", "x-dat-submission": header,
    }, built.sealed.length);
    expect(small.status).toBe(403);
    expect(small.body.error.code).toBe("NODE_NOT_REGISTERED");
    // No Content-Length (chunked): refused, the size cannot be checked before reading.
    const chunked = await fetch(`${server.url}/jobs/1/rounds/1/submissions`, {
      method: "POST", headers: { "content-type": "application/octet-stream", "x-dat-submission": header },
      body: new ReadableStream({ start(c) { c.enqueue(new Uint8Array(10)); c.close(); } }), duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(400);
    expect(((await chunked.json()) as any).error.code).toBe("SUBMISSION_LENGTH_REQUIRED");
    expect(blobFiles(home)).toEqual(blobsBefore);
  }, 60_000);

  it("leaves no blob when the body's CID is not the signed one, then accepts the real body", async () => {
    const { view } = await tinyModel();
    const built = await buildSubmission({ account: honest, round, tensors: constantDelta(view, 0.1), sampleCount: 10 });
    const other = await buildSubmission({ account: honest, round, tensors: constantDelta(view, 0.2), sampleCount: 10 });
    const header = Buffer.from(JSON.stringify(built.submission)).toString("base64url");
    const blobsBefore = blobFiles(home);
    const swapped = await fetch(`${server.url}/jobs/1/rounds/1/submissions`, {
      method: "POST", headers: { "content-type": "application/octet-stream", "x-dat-submission": header }, body: other.sealed,
    });
    expect(swapped.status).toBe(400);
    expect(((await swapped.json()) as any).error.code).toBe("BLOB_CID_MISMATCH");
    expect(blobFiles(home)).toEqual(blobsBefore);
    // A registered node's oversized body: refused from its Content-Length, nothing read or stored.
    const big = await postLarge(server.url, "/jobs/1/rounds/1/submissions", {
      "content-type": "application/octet-stream", "x-dat-submission": header,
    }, built.sealed.length * 4);
    expect(big.status).toBe(400);
    expect(big.body.error.code).toBe("SUBMISSION_TOO_LARGE");
    expect(blobFiles(home)).toEqual(blobsBefore);
    // Nothing already accepted is lost: the honest body still goes in, once.
    const receipt = await operator.submit(built.submission, built.sealed);
    expect(receipt.blobCid).toBe(built.submission.blobCid);
    expect(blobFiles(home)).toHaveLength(blobsBefore.length + 1);
    const dup = await fetch(`${server.url}/jobs/1/rounds/1/submissions`, {
      method: "POST", headers: { "content-type": "application/octet-stream", "x-dat-submission": header }, body: built.sealed,
    });
    expect(((await dup.json()) as any).error.code).toBe("SUBMISSION_DUPLICATE");
  }, 60_000);

  it("bounds 2,000 free registrations: metadata size, per-IP cap, rate limit, paginated listing", async () => {
    const dbFile = path.join(home, "dat.db");
    const dbSize = () => ["", "-wal"].reduce((sum, ext) => sum + (fs.existsSync(dbFile + ext) ? fs.statSync(dbFile + ext).size : 0), 0);
    const sizeBefore = dbSize();
    const fat = await buildRegistration(account(), "cpu", { blob: "x".repeat(16 * 1024) });
    const fatAnswer = await fetch(`${server.url}/nodes`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(fat) });
    expect(fatAnswer.status).toBe(413); // above the route's 8 KiB body limit
    const codes = new Map<string, number>();
    let accepted = 0;
    const registerOne = async (i: number) => {
      const reg = await buildRegistration(account(), "cpu", { cpus: 2, pad: "x".repeat(i % 2 ? 2000 : 100) });
      const res = await fetch(`${server.url}/nodes`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(reg) });
      if (res.ok) {
        accepted++;
        await res.arrayBuffer();
        return;
      }
      const code = ((await res.json()) as any).error.code as string;
      codes.set(code, (codes.get(code) ?? 0) + 1);
    };
    for (let i = 0; i < 2000; i += 20) await Promise.all(Array.from({ length: 20 }, (_, k) => registerOne(i + k)));
    // Per IP: at most 16 free nodes (one was registered in beforeAll); the rest are refused by rule.
    expect(accepted).toBeLessThanOrEqual(15);
    expect([...codes.keys()].sort()).toEqual(expect.arrayContaining(["RATE_LIMITED"]));
    for (const code of codes.keys()) expect(["RATE_LIMITED", "REGISTRATION_IP_CAP", "REGISTRATION_METADATA_TOO_LARGE"]).toContain(code);
    console.log(`2,000 registrations: ${accepted} accepted, refusals ${JSON.stringify(Object.fromEntries(codes))}, database ${(sizeBefore / MiB).toFixed(2)} → ${(dbSize() / MiB).toFixed(2)} MiB`);
    expect(dbSize() - sizeBefore).toBeLessThan(1 * MiB);
    const page = await fetch(`${server.url}/nodes?limit=5`);
    const listed = (await page.json()) as { nodes: { address: string }[]; next: string | null };
    expect(listed.nodes).toHaveLength(5);
    expect(listed.next).toBe(listed.nodes[4].address);
    const rest = await (await fetch(`${server.url}/nodes?limit=500&after=${listed.next}`)).json() as { nodes: unknown[]; next: string | null };
    expect(listed.nodes.length + rest.nodes.length).toBe(accepted + 1);
    expect((await fetch(`${server.url}/nodes?limit=501`)).status).toBe(400);
    expect((await fetch(`${server.url}/nodes?after=../etc`)).status).toBe(400);
    // The client pages through all of them.
    expect(await operator.listNodes()).toHaveLength(accepted + 1);
  }, 120_000);
});
