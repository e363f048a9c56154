/**
 * A local stand-in for Lighthouse (upload endpoint + IPFS gateway) on 127.0.0.1. It computes CIDs
 * and CARs WITHOUT dat's src/store code: files are imported with ipfs-unixfs-importer under
 * whatever chunker and layout a test picks (1 MiB kubo-style, 1 KiB, rabin; balanced or trickle;
 * CIDv0 or CIDv1), and CARs are written with @ipld/car's CarWriter from the importer's blocks.
 *
 * Shapes: upload POST /api/v0/add?cid-version=N (multipart "file", Bearer key) → 200
 * {Name, Hash, Size}; failures → {"error": "<message>"}, the body @lighthouse-web3/sdk reads
 * (`throw new Error(res.error)` in its uploadBuffer). The message texts are ours: the real ones
 * were not observable from here.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { CarWriter } from "@ipld/car/writer";
import { decode as decodePb } from "@ipld/dag-pb";
import { importer, type ImporterOptions } from "ipfs-unixfs-importer";
import { fixedSize, rabin } from "ipfs-unixfs-importer/chunker";
import { balanced, trickle } from "ipfs-unixfs-importer/layout";
import { CID } from "multiformats/cid";

export type Chunking = "kubo-default" | "1MiB" | "1KiB" | "rabin";

export interface AddOptions {
  chunking?: Chunking;
  cidVersion?: 0 | 1;
  layout?: "balanced" | "trickle";
}

/** How the gateway misbehaves for CAR answers. */
export type CarFault = "none" | "wrong-block" | "missing-block" | "truncated" | "wrong-root" | "extra-root" | "no-car";

export interface ScriptedAnswer {
  /** 0 resets the connection instead of answering. */
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface FakeLighthouse {
  url: string;
  /** Blocks by CID string, and each file's bytes by root CID. */
  blocks: Map<string, Uint8Array>;
  files: Map<string, Uint8Array>;
  apiKeys: Set<string>;
  /** Answers given to the next uploads, in order, before any real handling. */
  uploadScript: ScriptedAnswer[];
  /** Answers given to the next gateway GETs. */
  gatewayScript: ScriptedAnswer[];
  /** When true, uploads are read but never answered (a stalled service). */
  stallUploads: boolean;
  carFault: CarFault;
  /** When set, every gateway request is redirected (302) to this base URL. */
  redirectTo?: string;
  requests: { method: string; url: string; auth?: string; accept?: string }[];
  /** Imports a file as IPFS tooling would and keeps its blocks; returns the root CID. */
  add(bytes: Uint8Array, options?: AddOptions): Promise<string>;
  close(): Promise<void>;
}

function importerOptions(options: AddOptions): Partial<ImporterOptions> {
  const cidVersion = options.cidVersion ?? 1;
  const chunking = options.chunking ?? "kubo-default";
  const chunker =
    chunking === "rabin"
      ? rabin({ minChunkSize: 2048, avgChunkSize: 8192, maxChunkSize: 65536 })
      : fixedSize({ chunkSize: chunking === "1MiB" ? 1024 * 1024 : chunking === "1KiB" ? 1024 : 262_144 });
  return {
    cidVersion,
    rawLeaves: cidVersion === 1,
    reduceSingleLeafToSelf: true,
    chunker,
    layout: options.layout === "trickle" ? trickle() : balanced({ maxChildrenPerNode: 174 }),
    wrapWithDirectory: false,
  };
}

async function carBytes(fake: FakeLighthouse, root: CID): Promise<Uint8Array> {
  // Depth-first block order, as a trustless gateway sends with order=dfs.
  const order: CID[] = [];
  const visit = (cid: CID) => {
    order.push(cid);
    if (cid.code === 0x70) for (const link of decodePb(fake.blocks.get(cid.toString())!).Links) visit(link.Hash);
  };
  visit(root);
  const fault = fake.carFault;
  const headerRoots = fault === "wrong-root" ? [order[order.length - 1].equals(root) ? CID.parse("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4") : order[order.length - 1]] : fault === "extra-root" ? [root, CID.parse("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4")] : [root];
  const { writer, out } = CarWriter.create(headerRoots);
  const collected: Uint8Array[] = [];
  const reading = (async () => {
    for await (const chunk of out) collected.push(chunk);
  })();
  const victim = order[order.length - 1];
  for (const cid of order) {
    let bytes = fake.blocks.get(cid.toString())!;
    if (fault === "missing-block" && cid.equals(victim) && order.length > 1) continue;
    if (fault === "wrong-block" && cid.equals(victim)) {
      bytes = Uint8Array.from(bytes);
      bytes[bytes.length >> 1] ^= 0x01;
    }
    await writer.put({ cid, bytes });
  }
  await writer.close();
  await reading;
  const all = Buffer.concat(collected);
  return fault === "truncated" ? all.subarray(0, all.length - 100) : all;
}

/** Starts the double; `apiKeys` are the keys it accepts. */
export async function startFakeLighthouse(apiKeys: string[]): Promise<FakeLighthouse> {
  const fake = {
    blocks: new Map<string, Uint8Array>(),
    files: new Map<string, Uint8Array>(),
    apiKeys: new Set(apiKeys),
    uploadScript: [] as ScriptedAnswer[],
    gatewayScript: [] as ScriptedAnswer[],
    stallUploads: false,
    carFault: "none" as CarFault,
    redirectTo: undefined as string | undefined,
    requests: [] as FakeLighthouse["requests"],
  } as FakeLighthouse;

  fake.add = async (bytes, options = {}) => {
    const blockstore = {
      put: async (cid: CID, block: Uint8Array) => {
        fake.blocks.set(cid.toString(), block);
        return cid;
      },
    };
    let root: CID | undefined;
    for await (const entry of importer([{ content: bytes }], blockstore, importerOptions(options))) root = entry.cid;
    fake.files.set(root!.toString(), bytes);
    return root!.toString();
  };

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: String(error) }));
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    fake.requests.push({ method: req.method ?? "", url: req.url ?? "", auth: req.headers.authorization, accept: req.headers.accept });
    const url = new URL(req.url ?? "/", "http://x");
    const send = (answer: ScriptedAnswer) => {
      // Status 0 stands for a connection reset.
      if (answer.status === 0) return void req.socket.destroy();
      const body = typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body);
      res.writeHead(answer.status, { "content-type": typeof answer.body === "string" ? "text/html" : "application/json", ...answer.headers });
      res.end(body);
    };
    if (req.method === "POST" && url.pathname === "/api/v0/add") {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      if (fake.stallUploads) return; // never answers; the client's timeout must end it
      const scripted = fake.uploadScript.shift();
      if (scripted) return send(scripted);
      const key = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
      if (!key || !fake.apiKeys.has(key)) return send({ status: 401, body: { error: "Authentication failed: invalid API key" } });
      const form = await new Response(Buffer.concat(chunks), { headers: { "content-type": req.headers["content-type"] ?? "" } }).formData();
      const file = form.get("file");
      if (!(file instanceof Blob)) return send({ status: 400, body: { error: "No file found in request" } });
      const bytes = new Uint8Array(await file.arrayBuffer());
      // Lighthouse adds files with kubo's defaults for the requested CID version.
      const cid = await fake.add(bytes, { cidVersion: url.searchParams.get("cid-version") === "0" ? 0 : 1 });
      return send({ status: 200, body: { Name: "blob", Hash: cid, Size: String(bytes.length) } });
    }
    const m = /^\/ipfs\/([A-Za-z0-9]+)$/.exec(url.pathname);
    if ((req.method === "GET" || req.method === "HEAD") && m) {
      if (fake.redirectTo) {
        // Each hop gets a new URL, so only the client's bound (not loop detection) can stop a chain.
        url.searchParams.set("hop", String(Number(url.searchParams.get("hop") ?? 0) + 1));
        res.writeHead(302, { location: `${fake.redirectTo}${url.pathname}${url.search}` });
        return res.end();
      }
      const scripted = fake.gatewayScript.shift();
      if (scripted) return send(scripted);
      const root = CID.parse(m[1]);
      const file = fake.files.get(root.toString());
      if (!file) return send({ status: 404, body: "<html><body>404 page not found</body></html>" });
      const wantsCar = url.searchParams.get("format") === "car" || (req.headers.accept ?? "").includes("application/vnd.ipld.car");
      if (wantsCar && fake.carFault !== "no-car") {
        const car = await carBytes(fake, root);
        res.writeHead(200, { "content-type": "application/vnd.ipld.car; version=1", "content-length": car.length });
        return res.end(req.method === "HEAD" ? undefined : car);
      }
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": file.length });
      return res.end(req.method === "HEAD" ? undefined : Buffer.from(file));
    }
    send({ status: 404, body: { error: "no route" } });
  }

  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return fake;
}
