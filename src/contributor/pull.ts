/**
 * Pulling a job's global model: fetched through the orchestrator, checked against its CID before
 * anything is saved, kept as a tfjs folder under the home (one folder per CID, so a pull is cached).
 */
import fs from "node:fs";
import path from "node:path";
import type { LocalAccount } from "viem";
import { MalformedInputError } from "../core/errors.js";
import type { ModelAuth, Orchestrator } from "../orchestrator/types.js";

/** Folder of a pulled model in a home. */
export function pulledModelDir(home: string, cid: string): string {
  return path.join(home, "models", cid);
}

/** The packed model of a CID from the orchestrator, refused unless the bytes match the CID. */
export async function fetchVerifiedModel(orchestrator: Orchestrator, cid: string, auth?: ModelAuth): Promise<Uint8Array> {
  const bytes = await orchestrator.getModel(cid, auth);
  const { bytesMatchCid } = await import("../store/cid.js");
  if (!(await bytesMatchCid(bytes, cid))) {
    throw new MalformedInputError(`The model received for ${cid} does not match its CID.`, {
      code: "MODEL_CID_MISMATCH",
      hint: "The orchestrator or a proxy sent other bytes; nothing was saved.",
    });
  }
  return bytes;
}

export interface PullModelResult {
  dir: string;
  /** True when the folder was already there (nothing fetched). */
  cached: boolean;
}

/** A wallet's answer to a gated job's model-download challenge (the contributor proves it registered). */
export function modelAuthOf(account: LocalAccount): ModelAuth {
  return {
    signChallenge: async (challenge) => (await import("../inference/challenge.js")).signChallenge(account, challenge as never),
  };
}

/** Fetches the model of a CID, checks the bytes against the CID and saves it as a tfjs folder. */
export async function pullModel(home: string, orchestrator: Orchestrator, cid: string, auth?: ModelAuth): Promise<PullModelResult> {
  const dir = pulledModelDir(home, cid);
  if (fs.existsSync(path.join(dir, "model.json"))) return { dir, cached: true };
  const bytes = await fetchVerifiedModel(orchestrator, cid, auth);
  const { unpackModelToDir } = await import("../train/modelIo.js");
  const tmp = `${dir}.tmp-${process.pid}`;
  await unpackModelToDir(bytes, tmp);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return { dir, cached: false };
}

export interface PullJobModelResult extends PullModelResult {
  jobId: number;
  cid: string;
  /** The collecting round whose model this is, or null for the job's latest global model. */
  round: number | null;
}

/**
 * `dat model pull --job`: the current round's model, else the job's latest global model. `auth`
 * answers a gated job's download challenge (asked only when the server requires it).
 */
export async function pullJobModel(orchestrator: Orchestrator, home: string, jobId: number, auth?: ModelAuth): Promise<PullJobModelResult> {
  const round = await orchestrator.currentRound(jobId).catch((error: { code?: string }) => {
    if (error?.code === "ROUND_NOT_OPEN") return undefined;
    throw error;
  });
  const cid = round?.modelCid ?? (await orchestrator.getJob(jobId)).modelCid;
  const pulled = await pullModel(home, orchestrator, cid, auth);
  return { jobId, cid, ...pulled, round: round?.round ?? null };
}
