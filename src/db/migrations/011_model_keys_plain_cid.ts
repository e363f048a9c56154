/**
 * Model keys looked up by plaintext CID (issue 13): every GET /models/:cid asks which jobs own a
 * CID (blobOwners), and reading a private model finds its encrypted copy by plain_cid, newest first.
 */
export const migration011ModelKeysPlainCid = {
  version: 11,
  name: "model_keys_plain_cid",
  up: `
CREATE INDEX IF NOT EXISTS model_keys_plain_cid ON model_keys (plain_cid, created_at);
`,
};
