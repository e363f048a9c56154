/**
 * zod schemas of everything a peer or a user sends the orchestrator, shared by the embedded
 * implementation (its own input checks) and the HTTP server (body validation).
 */
import { z } from "zod";
import { MalformedInputError } from "../core/errors.js";

export const hex = (bytes?: number) =>
  z.string().regex(bytes === undefined ? /^0x[0-9a-fA-F]*$/ : new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`), bytes ? `must be 0x + ${bytes * 2} hex digits` : "must be 0x-prefixed hex");
export const addressSchema = hex(20).transform((a) => a.toLowerCase() as `0x${string}`);
export const positiveInt = z.number().int().positive();
const cidSchema = z.string().regex(/^[a-zA-Z0-9]{8,128}$/, "must be a CID");

export const signedSubmissionSchema = z.object({
  jobId: positiveInt,
  round: positiveInt,
  address: addressSchema,
  blobCid: cidSchema,
  sampleCount: positiveInt,
  metricsHash: hex(32) as z.ZodType<`0x${string}`>,
  fingerprint: hex(32) as z.ZodType<`0x${string}`>,
  signature: hex() as z.ZodType<`0x${string}`>,
}).strict();

export const nodeRegistrationSchema = z.object({
  address: addressSchema,
  backend: z.string().min(1).max(40),
  hardwareHash: hex(32) as z.ZodType<`0x${string}`>,
  metadata: z.record(z.string(), z.unknown()).refine((m) => JSON.stringify(m).length <= 16_384, "metadata too large"),
  timestamp: z.number().int().nonnegative(),
  signature: hex() as z.ZodType<`0x${string}`>,
}).strict();

/**
 * Parses `value` with `schema`, or throws MalformedInputError naming the first bad field.
 */
export function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue.path.length ? issue.path.join(".") : "(body)";
  throw new MalformedInputError(`Malformed ${what}: ${where} ${issue.message}.`, {
    code: "MALFORMED_REQUEST",
    details: result.error.issues.slice(0, 5).map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`),
    data: { field: where },
  });
}
