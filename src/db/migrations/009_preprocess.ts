/**
 * The job's preprocessing (issue 14): one JSON PreprocessSpec per job (kind, factor, statistics
 * fixed by the operator at `dat job create`); NULL for jobs created before it, read as "none".
 */
export const migration009Preprocess = {
  version: 9,
  name: "preprocess",
  up: `
ALTER TABLE jobs ADD COLUMN preprocess TEXT;
`,
};
