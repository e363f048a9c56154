/**
 * Who may download a blob through GET /models/:cid. Plaintext models of a gated job (gate minimum
 * above zero) go only to the operator, to the job's staked contributors and to gate holders. A
 * contributor of a job with a minimum stake is an address whose stake in the job meets it now (read
 * from the chain; registration is free, so it proves nothing there). A gated job needs a minimum
 * stake (job rules); one stored without it (older database) has no contributors here. An ungated
 * --encrypt-model job without a minimum counts every registered node (trusted groups). Each proves
 * its address with the same signed challenge (header x-dat-challenge, base64url JSON, purpose
 * "infer") or session token (Authorization: Bearer) as inference. Sealed deltas go to the operator
 * only. Encrypted copies and ungated models are public: their keys, or nothing, are what the gate
 * protects.
 */
import type Database from "better-sqlite3";
import type { Address } from "viem";
import { DeniedError, MalformedInputError } from "../core/errors.js";
import { blobOwners } from "../db/challenges.js";
import { isNodeRegistered } from "../db/nodes.js";
import { getJobEcon } from "../db/econ.js";
import { verifyChallenge } from "./challenge.js";
import { gatesDownloads } from "./modelKeys.js";
import type { InferenceEngine } from "./engine.js";

/** Reads stakes from the chain (the orchestrator's StakeOracle fits; inference may not import it). */
export interface StakeReader {
  opening(jobId: number): Promise<{ block: bigint; minStake: bigint }>;
  stakesAt(jobId: number, addresses: readonly `0x${string}`[], block: bigint): Promise<{ stakes: Map<string, bigint> }>;
}

/** The header that carries a signed challenge on a model download. */
export const MODEL_CHALLENGE_HEADER = "x-dat-challenge";

export interface ModelAccessRequest {
  headers: Record<string, string | string[] | undefined>;
}

/**
 * Throws unless the caller may read `cid`. `isOperator` checks the operator token of the request.
 * @throws DeniedError MODEL_AUTH_REQUIRED (no proof; data.jobId names the job to sign for),
 *   MODEL_ACCESS_DENIED (proven address neither contributor nor holder), MODEL_GATE_UNSTAKED (a
 *   registered non-holder of a gated job stored without a minimum stake), SEALED_DELTA_PRIVATE.
 */
export async function checkModelAccess(
  db: Database.Database, engine: InferenceEngine, req: ModelAccessRequest, cid: string, isOperator: () => Promise<boolean>,
  staking?: StakeReader,
): Promise<void> {
  if (typeof cid !== "string" || !/^[a-zA-Z0-9]{8,128}$/.test(cid)) return; // the route's own CID check answers
  const owners = blobOwners(db, cid);
  if (owners.sealedDelta) {
    if (await isOperator()) return;
    throw new DeniedError(`${cid} is a sealed delta: only the operator reads submissions.`, {
      code: "SEALED_DELTA_PRIVATE",
      hint: "Contributors pull models, not other contributors' deltas.",
    });
  }
  if (owners.encryptedCopy) return;
  // A gated job's plaintext, or an --encrypt-model job's (whose consumers get the encrypted copy and
  // a key), goes to the operator, the job's contributors and (gated jobs) gate holders only.
  const gated = owners.jobs.filter((j) => gatesDownloads(j.gateMin) || j.encryptModel);
  if (gated.length === 0) return;
  if (await isOperator()) return;
  const job = gated[0];
  const jobId = String(job.id);
  const address = await provenAddress(db, engine, req, jobId);
  const gate = gatesDownloads(job.gateMin);
  // A gated job without a minimum stake (refused at creation now; an older database may hold one):
  // registration is free there, so it admits no contributor; gate holders and the operator only.
  const staked = BigInt(getJobEcon(db, job.id).minStake ?? "0") > 0n;
  if ((staked || !gate) && await isContributor(db, job.id, address, staking)) return;
  if (!gate) {
    throw new DeniedError(`${address} may not download job ${jobId}'s plaintext model: it is not a contributor of the job.`, {
      code: "MODEL_ACCESS_DENIED",
      hint: "Consumers of an --encrypt-model job get the encrypted copy and its key through dat infer; contributors register (and stake) first.",
      data: { jobId: job.id, address },
    });
  }
  try {
    await engine.gateFor(await engine.job(jobId), address);
  } catch (error) {
    if ((error as { code?: string }).code !== "GATE_INSUFFICIENT_BALANCE") throw error;
    const gateData = (error as { data?: unknown }).data;
    if (!staked && isNodeRegistered(db, address)) {
      throw new DeniedError(`${address} may not download gated job ${jobId}'s model: the job has no minimum stake, so registering does not admit a contributor, and the address does not hold the gate token.`, {
        code: "MODEL_GATE_UNSTAKED",
        hint: "Hold the job's gate token (at least its gate minimum) and try again; an operator gives contributors access by creating the job with --min-stake.",
        data: { jobId: job.id, address, gate: gateData },
      });
    }
    throw new DeniedError(`${address} may not download job ${jobId}'s model: it is neither a contributor nor a gate holder.`, {
      code: "MODEL_ACCESS_DENIED",
      hint: "Hold the gate token and use dat infer, or register and stake as a contributor (dat node register --stake).",
      data: { jobId: job.id, address, gate: gateData },
    });
  }
}

/**
 * A staked job's contributor holds at least the job's minimum (its own and the chain's) at the
 * chain's latest block; a job without a minimum counts every registered node. A staked job whose
 * stakes cannot be read admits no contributor here (gate holders still pass).
 */
export async function isContributor(db: Database.Database, jobId: number, address: Address, staking: StakeReader | undefined): Promise<boolean> {
  const own = BigInt(getJobEcon(db, jobId).minStake ?? "0");
  if (own === 0n) return isNodeRegistered(db, address);
  if (!staking || !isNodeRegistered(db, address)) return false;
  try {
    const { block, minStake } = await staking.opening(jobId);
    const { stakes } = await staking.stakesAt(jobId, [address], block);
    const held = stakes.get(address.toLowerCase()) ?? stakes.get(address) ?? 0n;
    return held >= (minStake > own ? minStake : own);
  } catch {
    return false;
  }
}

async function provenAddress(db: Database.Database, engine: InferenceEngine, req: ModelAccessRequest, jobId: string): Promise<Address> {
  const auth = req.headers.authorization;
  if (typeof auth === "string" && /^Bearer\s+\S+\.\S+$/i.test(auth)) {
    return engine.verifySession(auth.replace(/^Bearer\s+/i, ""), jobId);
  }
  const header = req.headers[MODEL_CHALLENGE_HEADER];
  if (typeof header !== "string") {
    throw new DeniedError(`This model belongs to gated job ${jobId}: prove your address with a signed challenge.`, {
      code: "MODEL_AUTH_REQUIRED",
      hint: `GET /jobs/${jobId}/challenge, sign it (EIP-712), send it base64url-encoded in the ${MODEL_CHALLENGE_HEADER} header.`,
      data: { jobId: Number(jobId) },
    });
  }
  let challenge: unknown;
  try {
    if (header.length > 8192) throw new Error("too long");
    challenge = JSON.parse(Buffer.from(header, "base64url").toString("utf8"));
  } catch {
    throw new MalformedInputError(`The ${MODEL_CHALLENGE_HEADER} header is not base64url JSON.`, { code: "CHALLENGE_MALFORMED" });
  }
  return verifyChallenge(db, challenge, { jobId, purpose: "infer" });
}
