export const SUBMISSION_HEADER = "x-dat-submission";
/** A signed challenge (base64url JSON) proving the caller's address on a gated model download. */
export const MODEL_CHALLENGE_HEADER = "x-dat-challenge";
