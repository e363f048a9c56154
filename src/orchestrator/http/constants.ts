export const SUBMISSION_HEADER = "x-dat-submission";
