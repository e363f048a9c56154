/**
 * Defences against floods (issue 13): the IP a node first registered from, so the server can cap
 * free (unstaked) registrations per IP without keeping that state in memory across restarts.
 */
export const migration006Defend = {
  version: 6,
  name: "defend",
  up: `
ALTER TABLE nodes ADD COLUMN registered_ip TEXT;
CREATE INDEX IF NOT EXISTS nodes_registered_ip ON nodes (registered_ip);
`,
};
