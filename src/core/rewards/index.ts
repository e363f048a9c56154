export { splitRewards, type ContributionScore, type RewardShare } from "./split.js";
