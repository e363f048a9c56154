/**
 * Stakes judged at round open (issue 13): the job's minimum stake in force at the block recorded
 * when the round opened (round_econ.stake_block), so a minimum raised later does not disqualify
 * that round's submissions.
 */
export const migration010RoundOpenStake = {
  version: 10,
  name: "round_open_stake",
  up: `
ALTER TABLE round_econ ADD COLUMN open_min_stake TEXT;
`,
};
