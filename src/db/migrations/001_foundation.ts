/**
 * Foundation: a key/value table for facts about the home itself (when it was created, by which
 * version, the wallet address) that other parts may also use for small singletons.
 */
export const migration001Foundation = {
  version: 1,
  name: "foundation",
  up: `
CREATE TABLE IF NOT EXISTS meta (
  key         TEXT PRIMARY KEY,
  value       TEXT NOT NULL,
  updated_at  INTEGER NOT NULL
);
`,
};
