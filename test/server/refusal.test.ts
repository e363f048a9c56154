/**
 * A request refused from its headers is answered and its connection closed without the body
 * being read: a raw client declares and sends a 64 MiB body; it must get the error answer, see
 * its socket closed, and the server must have read only a small part of what was sent (counted
 * by the server's own socket, not by time).
 */
import fs from "node:fs";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import { createEmbeddedOrchestrator, type EmbeddedOrchestrator } from "../../src/orchestrator/embedded.js";
import { buildServer } from "../../src/server/app.js";
import { createHttpOrchestrator } from "../../src/orchestrator/http/client.js";
import { jobInput, tempHome, tinyModel } from "../orchestrator/helpers.js";

const MiB = 1024 * 1024;
const TOKEN = "operator-token-for-tests-0123456789";
const BODY = 64 * MiB;

interface RawAnswer {
  /** Everything the client received, as text. */
  text: string;
  /** Body bytes the client handed to its socket before the server closed it. */
  sent: number;
}

let home: string;
let embedded: EmbeddedOrchestrator;
let app: FastifyInstance;
let port: number;
/** Bytes the server read on each closed connection, in close order. */
const serverRead: number[] = [];

/**
 * Sends `head` then `size` body bytes as fast as the socket takes them, reading whatever comes
 * back, until the server closes the connection.
 */
function rawUpload(head: string, size: number): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    const piece = Buffer.alloc(MiB);
    let text = "";
    let sent = 0;
    socket.on("data", (d) => (text += d.toString("latin1")));
    // The server cutting an upload in progress is the point: the write side may fail.
    socket.on("error", () => {});
    socket.on("close", () => resolve({ text, sent }));
    socket.write(head);
    const pump = (): void => {
      while (sent < size && !socket.destroyed) {
        sent += piece.length;
        if (!socket.write(piece)) {
          socket.once("drain", pump);
          return;
        }
      }
    };
    pump();
  });
}

async function closedConnections(count: number): Promise<number[]> {
  const deadline = Date.now() + 30_000;
  while (serverRead.length < count) {
    if (Date.now() > deadline) throw new Error(`the server closed ${serverRead.length} of ${count} connections`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return serverRead.slice(0, count);
}

function errorCode(answer: RawAnswer): string {
  const body = answer.text.slice(answer.text.indexOf("\r\n\r\n") + 4);
  return (JSON.parse(body) as { error: { code: string } }).error.code;
}

beforeAll(async () => {
  home = tempHome("dat-refusal-");
  embedded = await createEmbeddedOrchestrator({ home });
  app = await buildServer({ orchestrator: embedded, operatorToken: TOKEN, bodyLimit: MiB });
  app.server.on("connection", (socket: net.Socket) => socket.on("close", () => serverRead.push(socket.bytesRead)));
  await app.listen({ host: "127.0.0.1", port: 0 });
  port = (app.server.address() as AddressInfo).port;
}, 60_000);

afterAll(async () => {
  await app?.close();
  await embedded?.close();
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

describe("refusals before the body", () => {
  it("answers an oversized submission and closes the connection with the body unread", async () => {
    serverRead.length = 0;
    const answer = await rawUpload([
      "POST /jobs/1/rounds/1/submissions HTTP/1.1", "host: test", "content-type: application/octet-stream",
      "x-dat-submission: e30", `content-length: ${BODY}`, "", "",
    ].join("\r\n"), BODY);
    expect(answer.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer.text.toLowerCase()).toContain("connection: close");
    expect(errorCode(answer)).toBe("SUBMISSION_TOO_LARGE");
    const [read] = await closedConnections(1);
    // What the kernel already held and what arrives while the client reads its answer (at most
    // 2 MiB, discarded; socket buffers add a little) are read; the rest of the 64 MiB never is.
    expect(read).toBeLessThan(8 * MiB);
    expect(answer.sent).toBeLessThan(BODY);
  }, 60_000);

  it("answers an unauthenticated submission within the size limit the same way", async () => {
    serverRead.length = 0;
    // No submission header: refused on the headers; the declared body is never read.
    const size = MiB / 2;
    const answer = await rawUpload([
      "POST /jobs/1/rounds/1/submissions HTTP/1.1", "host: test", "content-type: application/octet-stream",
      `content-length: ${size}`, "", "",
    ].join("\r\n"), BODY);
    expect(answer.text).toMatch(/^HTTP\/1\.1 400 /);
    expect(errorCode(answer)).toBe("MALFORMED_REQUEST");
    const [read] = await closedConnections(1);
    expect(read).toBeLessThan(8 * MiB);
  }, 60_000);

  it("refuses a job upload with a wrong operator token without reading the model", async () => {
    serverRead.length = 0;
    const answer = await rawUpload([
      "POST /jobs HTTP/1.1", "host: test", "content-type: application/json", `authorization: Bearer ${"y".repeat(TOKEN.length)}`,
      `content-length: ${BODY}`, "", "",
    ].join("\r\n"), BODY);
    expect(answer.text).toMatch(/^HTTP\/1\.1 403 /);
    expect(errorCode(answer)).toBe("OPERATOR_TOKEN_WRONG");
    const [read] = await closedConnections(1);
    expect(read).toBeLessThan(8 * MiB);
  }, 60_000);

  it("gives the HTTP client the typed refusal, not a reset, and keeps serving", async () => {
    const client = createHttpOrchestrator({ url: `http://127.0.0.1:${port}`, operatorToken: TOKEN, attempts: 1 });
    try {
      const { bytes } = await tinyModel();
      const job = await client.createJob(jobInput(), bytes);
      await client.openRound(job.id);
      // A sealed delta far above the job's implied size, from a well-formed but unsigned header.
      const submission = { jobId: job.id, round: 1 } as never;
      const codes: string[] = [];
      for (let i = 0; i < 5; i++) {
        codes.push(await client.submit(submission, new Uint8Array(8 * MiB)).then(() => "accepted", (e: { code?: string }) => e.code ?? String(e)));
      }
      expect(codes).toEqual(Array(5).fill("SUBMISSION_TOO_LARGE"));
      expect((await client.getJob(job.id)).id).toBe(job.id);
    } finally {
      await client.close();
    }
  }, 60_000);
});
