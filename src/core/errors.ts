/**
 * Typed errors for dat. Every error a user can cause carries a stable `code`, an exit code from
 * the documented table, and a hint saying what to do next. The CLI's single top-level handler
 * turns them into one human line (or a JSON object under --json) and the exit code.
 */

/** Documented process exit codes (README, "Exit codes"). Scripts rely on these numbers. */
export const ExitCode = {
  ok: 0,
  /** A bug in dat: the stack is printed and a report requested. */
  internal: 1,
  /** Unknown command or flag, missing or malformed argument. */
  usage: 2,
  /** Bad input the user can fix: data, config, passphrase, keystore, state. */
  user: 3,
  /** Something named does not exist: job, round, CID, wallet, contract. */
  notFound: 4,
  /** Access refused: not enough gate tokens, bad signature, not registered, not the operator. */
  denied: 5,
  /** A peer could not be reached or answered badly: orchestrator, RPC, gateway. */
  network: 6,
  /** The operation ran but did not reach its goal: a round that failed or was not published. */
  failed: 7,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** What the catalogue knows about one error code. */
export interface ErrorCodeEntry {
  /** The exit code the CLI ends with for this code. */
  readonly exit: ExitCodeValue;
  /**
   * Exit codes of older throw sites that raise the same code under another error class (a usage
   * error in one command, a user error in another). Kept because scripts rely on both numbers.
   */
  readonly alsoExit?: readonly ExitCodeValue[];
  /** Whether the same call may succeed if simply tried again later (peer down, lock held). */
  readonly retryable: boolean;
}

/**
 * Every error code dat raises, with its exit code and whether retrying can help. The codes are an
 * interface (scripts match them under --json), so entries are only ever added, never renamed.
 */
export const errorCatalogue = {
  AGGREGATE_BAD_CLAIM: { exit: ExitCode.user, retryable: false },
  AGGREGATE_BAD_LENGTH: { exit: ExitCode.user, retryable: false },
  AGGREGATE_BAD_OPTION: { exit: ExitCode.user, retryable: false },
  AGGREGATE_BAD_STATE: { exit: ExitCode.user, retryable: false },
  AGGREGATE_BAD_UPDATE: { exit: ExitCode.user, retryable: false },
  AGGREGATE_DUPLICATE_ID: { exit: ExitCode.user, retryable: false },
  AGGREGATE_FINISHED: { exit: ExitCode.user, retryable: false },
  AGGREGATE_LENGTH_MISMATCH: { exit: ExitCode.user, retryable: false },
  AGGREGATE_NOT_FINITE: { exit: ExitCode.failed, retryable: false },
  AGGREGATE_OVERFLOW: { exit: ExitCode.user, retryable: false },
  AGGREGATE_TOO_FEW: { exit: ExitCode.user, retryable: false },
  AUTH_REQUIRED: { exit: ExitCode.denied, retryable: false },
  BACKEND_UNAVAILABLE: { exit: ExitCode.user, retryable: false },
  BACKEND_UNKNOWN: { exit: ExitCode.user, retryable: false },
  BAD_ACCOUNTS: { exit: ExitCode.user, retryable: false },
  BAD_ADDRESS: { exit: ExitCode.usage, alsoExit: [ExitCode.user], retryable: false },
  BAD_AMOUNT: { exit: ExitCode.usage, alsoExit: [ExitCode.user], retryable: false },
  BAD_ATTACK: { exit: ExitCode.usage, retryable: false },
  BAD_BLOCK_RANGE: { exit: ExitCode.user, retryable: false },
  BAD_CID: { exit: ExitCode.user, retryable: false },
  BAD_COOLDOWN: { exit: ExitCode.user, retryable: false },
  BAD_DEVNET_STATE: { exit: ExitCode.user, retryable: false },
  BAD_JOB: { exit: ExitCode.usage, retryable: false },
  BAD_JOB_ID: { exit: ExitCode.usage, alsoExit: [ExitCode.user], retryable: false },
  BAD_METADATA_CID: { exit: ExitCode.user, retryable: false },
  BAD_OPTION: { exit: ExitCode.usage, retryable: false },
  BAD_PAGE: { exit: ExitCode.user, retryable: false },
  BAD_PORT: { exit: ExitCode.user, retryable: false },
  BAD_PRIVATE_KEY: { exit: ExitCode.user, retryable: false },
  BAD_REWARD_TOTAL: { exit: ExitCode.user, retryable: false },
  BAD_REWARD_TREE: { exit: ExitCode.user, retryable: false },
  BAD_ROUND: { exit: ExitCode.usage, alsoExit: [ExitCode.user], retryable: false },
  BAD_SCORE: { exit: ExitCode.user, retryable: false },
  BAD_SLASH_ADDRESS: { exit: ExitCode.user, retryable: false },
  BLOB_CID_MISMATCH: { exit: ExitCode.user, retryable: false },
  BLOB_CORRUPT: { exit: ExitCode.user, retryable: false },
  BLOB_NOT_FOUND: { exit: ExitCode.notFound, retryable: false },
  BLOB_TOO_LARGE: { exit: ExitCode.user, retryable: false },
  BODY_MALFORMED: { exit: ExitCode.user, retryable: false },
  CANCELLED: { exit: ExitCode.user, retryable: false },
  CAR_BLOCK_MISMATCH: { exit: ExitCode.user, retryable: false },
  CAR_INVALID: { exit: ExitCode.user, retryable: false },
  CAR_MISSING_BLOCK: { exit: ExitCode.user, retryable: false },
  CAR_NOT_A_FILE: { exit: ExitCode.user, retryable: false },
  CAR_UNSUPPORTED_CODEC: { exit: ExitCode.user, retryable: false },
  CAR_UNSUPPORTED_HASH: { exit: ExitCode.user, retryable: false },
  CAR_WRONG_ROOT: { exit: ExitCode.user, retryable: false },
  CHAIN_FAILED: { exit: ExitCode.failed, retryable: false },
  CHALLENGE_BAD_SIGNATURE: { exit: ExitCode.denied, retryable: false },
  CHALLENGE_EXPIRED: { exit: ExitCode.denied, retryable: false },
  CHALLENGE_MALFORMED: { exit: ExitCode.user, retryable: false },
  CHALLENGE_MISMATCH: { exit: ExitCode.denied, retryable: false },
  CHALLENGE_REUSED: { exit: ExitCode.denied, retryable: false },
  CHALLENGE_UNEXPECTED: { exit: ExitCode.network, retryable: false },
  CHALLENGE_UNKNOWN: { exit: ExitCode.denied, retryable: false },
  CID_INVALID: { exit: ExitCode.user, retryable: false },
  CID_MALFORMED: { exit: ExitCode.user, retryable: false },
  CID_UNSUPPORTED_HASH: { exit: ExitCode.user, retryable: false },
  CONFIG_CORRUPT: { exit: ExitCode.user, retryable: false },
  CONFIG_INVALID: { exit: ExitCode.user, retryable: false },
  CONFIG_LOCKED: { exit: ExitCode.user, retryable: true },
  CONFIG_UNKNOWN_KEY: { exit: ExitCode.user, retryable: false },
  CONFIG_UNREADABLE: { exit: ExitCode.user, retryable: false },
  CONFIG_UNSET: { exit: ExitCode.notFound, retryable: false },
  COOLDOWN_NOT_OVER: { exit: ExitCode.user, retryable: false },
  DATA_EMPTY: { exit: ExitCode.user, retryable: false },
  DATA_FORMAT: { exit: ExitCode.user, retryable: false },
  DATA_IMAGE_SIZE: { exit: ExitCode.user, retryable: false },
  DATA_LABELS_NOT_CLASSES: { exit: ExitCode.user, retryable: false },
  DATA_LABEL_COLUMN: { exit: ExitCode.user, retryable: false },
  DATA_LABEL_RANGE: { exit: ExitCode.user, retryable: false },
  DATA_MALFORMED: { exit: ExitCode.user, retryable: false },
  DATA_MISSING_FIELD: { exit: ExitCode.user, retryable: false },
  DATA_MODEL_MISMATCH: { exit: ExitCode.user, retryable: false },
  DATA_NOT_FINITE: { exit: ExitCode.user, retryable: false },
  DATA_NOT_FOUND: { exit: ExitCode.notFound, retryable: false },
  DATA_NOT_IDX: { exit: ExitCode.user, retryable: false },
  DATA_NOT_JSON: { exit: ExitCode.user, retryable: false },
  DATA_NOT_NUMERIC: { exit: ExitCode.user, retryable: false },
  DATA_NOT_PNG: { exit: ExitCode.user, retryable: false },
  DATA_ROW_WIDTH: { exit: ExitCode.user, retryable: false },
  DATA_UNREADABLE: { exit: ExitCode.user, retryable: false },
  DB_CORRUPT: { exit: ExitCode.user, retryable: false },
  DB_TOO_NEW: { exit: ExitCode.user, retryable: false },
  DB_UNREADABLE: { exit: ExitCode.user, retryable: false },
  DELTA_BAD_DTYPE: { exit: ExitCode.user, retryable: false },
  DELTA_BAD_ENCODING: { exit: ExitCode.user, alsoExit: [ExitCode.usage], retryable: false },
  DELTA_BAD_MAGIC: { exit: ExitCode.user, retryable: false },
  DELTA_BAD_NAME: { exit: ExitCode.user, retryable: false },
  DELTA_BAD_SAMPLE_COUNT: { exit: ExitCode.user, retryable: false },
  DELTA_BAD_SHAPE: { exit: ExitCode.user, retryable: false },
  DELTA_FINGERPRINT_MISMATCH: { exit: ExitCode.user, retryable: false },
  DELTA_MALFORMED: { exit: ExitCode.user, retryable: false },
  DELTA_NON_FINITE: { exit: ExitCode.user, retryable: false },
  DELTA_NORM_EXCEEDED: { exit: ExitCode.user, retryable: false },
  DELTA_RESIDUAL_UNUSED: { exit: ExitCode.user, retryable: false },
  DELTA_SIZE_MISMATCH: { exit: ExitCode.user, retryable: false },
  DELTA_STALE: { exit: ExitCode.user, retryable: false },
  DELTA_TOO_LARGE: { exit: ExitCode.user, retryable: false },
  DELTA_TRUNCATED: { exit: ExitCode.user, retryable: false },
  DELTA_UNSUPPORTED_VERSION: { exit: ExitCode.user, retryable: false },
  DEMO_BAD_OPTION: { exit: ExitCode.usage, retryable: false },
  DEMO_DATA_LABELS: { exit: ExitCode.usage, retryable: false },
  DEMO_DATA_TOO_SMALL: { exit: ExitCode.usage, retryable: false },
  DEMO_EMPTY_SHARD: { exit: ExitCode.usage, retryable: false },
  DEMO_REPORT_PATH: { exit: ExitCode.user, retryable: false },
  DEMO_ROUND_FAILED: { exit: ExitCode.failed, retryable: false },
  DENIED: { exit: ExitCode.denied, retryable: false },
  DEVNET_LISTEN: { exit: ExitCode.network, retryable: false },
  DEVNET_STATE_DIVERGED: { exit: ExitCode.user, retryable: false },
  EIP712_BAD_MESSAGE: { exit: ExitCode.usage, retryable: false },
  EMPTY_PASSPHRASE: { exit: ExitCode.user, retryable: false },
  EVENT_STREAMS_LIMIT: { exit: ExitCode.denied, retryable: true },
  FAILED: { exit: ExitCode.failed, retryable: false },
  FINGERPRINT_MISMATCH: { exit: ExitCode.user, retryable: false },
  GATEWAY_BAD_STATUS: { exit: ExitCode.network, retryable: true },
  GATEWAY_REDIRECT_LOOP: { exit: ExitCode.network, retryable: false },
  GATE_INSUFFICIENT_BALANCE: { exit: ExitCode.denied, retryable: false },
  GATE_NOT_CONFIGURED: { exit: ExitCode.user, retryable: false },
  GATE_RPC_UNREACHABLE: { exit: ExitCode.network, retryable: true },
  GATE_TOKEN_NOT_FOUND: { exit: ExitCode.notFound, retryable: false },
  GPU_CUDA_FALLBACK: { exit: ExitCode.user, retryable: false },
  HOME_NOT_FOLDER: { exit: ExitCode.user, retryable: false },
  HOME_UNREADABLE: { exit: ExitCode.user, retryable: false },
  HOME_UNWRITABLE: { exit: ExitCode.user, retryable: false },
  HYPER_ABOVE_JOB: { exit: ExitCode.user, retryable: false },
  INFER_TIMEOUT: { exit: ExitCode.failed, retryable: false },
  INPUT_EMPTY: { exit: ExitCode.user, retryable: false },
  INPUT_FORMAT: { exit: ExitCode.user, alsoExit: [ExitCode.usage], retryable: false },
  INPUT_MALFORMED: { exit: ExitCode.user, retryable: false },
  INPUT_SHAPE: { exit: ExitCode.user, retryable: false },
  INPUT_TOO_MANY: { exit: ExitCode.user, retryable: false },
  INPUT_UNREADABLE: { exit: ExitCode.user, retryable: false },
  INSUFFICIENT_FUNDS: { exit: ExitCode.user, retryable: false },
  INSUFFICIENT_POOL: { exit: ExitCode.failed, retryable: false },
  INSUFFICIENT_TOKENS: { exit: ExitCode.user, retryable: false },
  INTERNAL: { exit: ExitCode.internal, retryable: false },
  JOB_BAD_CONTRIBUTORS: { exit: ExitCode.user, retryable: false },
  JOB_COMPLETE: { exit: ExitCode.user, retryable: false },
  JOB_DP_NOISE_WITHOUT_CLIP: { exit: ExitCode.user, retryable: false },
  JOB_GATE_WITHOUT_STAKE: { exit: ExitCode.user, retryable: false },
  JOB_NOT_FOUND: { exit: ExitCode.notFound, retryable: false },
  JOB_VALIDATION_LABEL: { exit: ExitCode.user, retryable: false },
  JOIN_CHAIN_MISMATCH: { exit: ExitCode.user, retryable: false },
  JOIN_NO_CHAIN: { exit: ExitCode.user, retryable: false },
  JOIN_NOT_ORCHESTRATOR: { exit: ExitCode.user, retryable: false },
  KEYSTORE_CORRUPT: { exit: ExitCode.user, retryable: false },
  KEYSTORE_MODE: { exit: ExitCode.user, retryable: false },
  KEYSTORE_NO_ADDRESS: { exit: ExitCode.user, retryable: false },
  LIGHTHOUSE_BAD_ANSWER: { exit: ExitCode.network, retryable: true },
  LIGHTHOUSE_CID_MISMATCH: { exit: ExitCode.user, retryable: false },
  LIGHTHOUSE_DENIED: { exit: ExitCode.denied, retryable: false },
  LIGHTHOUSE_NO_API_KEY: { exit: ExitCode.user, retryable: false },
  LIGHTHOUSE_QUOTA: { exit: ExitCode.user, retryable: false },
  LIGHTHOUSE_REDIRECT: { exit: ExitCode.network, retryable: false },
  LIGHTHOUSE_REJECTED: { exit: ExitCode.network, retryable: false },
  LIGHTHOUSE_TIMEOUT: { exit: ExitCode.network, retryable: false },
  LIGHTHOUSE_TOO_LARGE: { exit: ExitCode.user, retryable: false },
  MALFORMED: { exit: ExitCode.user, retryable: false },
  MALFORMED_REQUEST: { exit: ExitCode.user, retryable: false },
  MODEL_ACCESS_DENIED: { exit: ExitCode.denied, retryable: false },
  MODEL_AUTH_REQUIRED: { exit: ExitCode.denied, retryable: false },
  MODEL_BLOB_MALFORMED: { exit: ExitCode.user, retryable: false },
  MODEL_CID_MISMATCH: { exit: ExitCode.user, retryable: false },
  MODEL_EXISTS: { exit: ExitCode.user, retryable: false },
  MODEL_GATE_UNSTAKED: { exit: ExitCode.denied, retryable: false },
  MODEL_KEY_MALFORMED: { exit: ExitCode.user, retryable: false },
  MODEL_KEY_MISSING: { exit: ExitCode.user, retryable: false },
  MODEL_KEY_WRONG: { exit: ExitCode.denied, retryable: false },
  MODEL_NOT_CLASSIFIER: { exit: ExitCode.user, retryable: false },
  MODEL_NOT_ENCRYPTED: { exit: ExitCode.user, retryable: false },
  MODEL_NOT_FOUND: { exit: ExitCode.notFound, retryable: false },
  MODEL_NOT_TFJS: { exit: ExitCode.user, retryable: false },
  MODEL_TEMPLATE_ARG: { exit: ExitCode.usage, retryable: false },
  MODEL_UNSUPPORTED: { exit: ExitCode.user, retryable: false },
  MODEL_UNSUPPORTED_DTYPE: { exit: ExitCode.user, retryable: false },
  NETWORK: { exit: ExitCode.network, retryable: true },
  NODE_NOT_ONCHAIN: { exit: ExitCode.denied, retryable: false },
  NODE_NOT_REGISTERED: { exit: ExitCode.denied, retryable: false },
  NOTHING_PENDING: { exit: ExitCode.user, retryable: false },
  NOTHING_STAKED: { exit: ExitCode.user, retryable: false },
  NOT_A_DEVNET: { exit: ExitCode.user, retryable: false },
  NOT_FOUND: { exit: ExitCode.notFound, retryable: false },
  NOT_TOKEN_OWNER: { exit: ExitCode.denied, retryable: false },
  NO_CONTRACT: { exit: ExitCode.notFound, retryable: false },
  NO_DELTA: { exit: ExitCode.notFound, retryable: false },
  NO_DEPLOYMENT: { exit: ExitCode.notFound, retryable: false },
  NO_MINTER: { exit: ExitCode.user, retryable: false },
  NO_SETTLEMENT: { exit: ExitCode.notFound, retryable: false },
  NO_STAKING: { exit: ExitCode.notFound, retryable: false },
  NO_WALLET: { exit: ExitCode.notFound, retryable: false },
  OPERATOR_TOKEN_MISSING: { exit: ExitCode.denied, retryable: false },
  OPERATOR_TOKEN_UNSET: { exit: ExitCode.denied, retryable: false },
  OPERATOR_TOKEN_WRONG: { exit: ExitCode.denied, retryable: false },
  ORCHESTRATOR_BAD_ANSWER: { exit: ExitCode.network, retryable: true },
  ORCHESTRATOR_BAD_URL: { exit: ExitCode.network, alsoExit: [ExitCode.user], retryable: false },
  ORCHESTRATOR_TIMEOUT: { exit: ExitCode.network, retryable: true },
  ORCHESTRATOR_UNREACHABLE: { exit: ExitCode.network, retryable: true },
  PARTITION_SCHEME: { exit: ExitCode.usage, retryable: false },
  PASSPHRASE_MISMATCH: { exit: ExitCode.user, retryable: false },
  PASSPHRASE_REQUIRED: { exit: ExitCode.user, retryable: false },
  PORT_IN_USE: { exit: ExitCode.user, retryable: false },
  PREPROCESS_BAD_ROW: { exit: ExitCode.user, retryable: false },
  PREPROCESS_BAD_SPEC: { exit: ExitCode.user, retryable: false },
  PREPROCESS_BAD_STATS: { exit: ExitCode.user, retryable: false },
  PREPROCESS_NOT_FINITE: { exit: ExitCode.user, retryable: false },
  PREPROCESS_NO_ROWS: { exit: ExitCode.user, retryable: false },
  PREPROCESS_STATS_MISMATCH: { exit: ExitCode.user, retryable: false },
  RATE_LIMITED: { exit: ExitCode.denied, retryable: true },
  REGISTRATION_IP_CAP: { exit: ExitCode.denied, retryable: false },
  REGISTRATION_METADATA_MISMATCH: { exit: ExitCode.user, retryable: false },
  REGISTRATION_METADATA_TOO_LARGE: { exit: ExitCode.user, retryable: false },
  REGISTRATION_STALE: { exit: ExitCode.denied, retryable: false },
  REGISTRY_FULL: { exit: ExitCode.denied, retryable: false },
  REPORT_UNWRITABLE: { exit: ExitCode.user, retryable: false },
  RESUME_NO_CHECKPOINT: { exit: ExitCode.user, retryable: false },
  REVERTED: { exit: ExitCode.failed, retryable: false },
  REWARD_TREE_MISMATCH: { exit: ExitCode.user, retryable: false },
  ROUND_ALREADY_OPEN: { exit: ExitCode.user, retryable: false },
  ROUND_BAD_DEADLINE: { exit: ExitCode.user, retryable: false },
  ROUND_CONFLICT: { exit: ExitCode.failed, retryable: false },
  ROUND_FAILURE_REASON: { exit: ExitCode.user, retryable: false },
  ROUND_FULL: { exit: ExitCode.user, retryable: false },
  ROUND_ILLEGAL_TRANSITION: { exit: ExitCode.user, retryable: false },
  ROUND_NOT_FOUND: { exit: ExitCode.notFound, retryable: false },
  ROUND_NOT_OPEN: { exit: ExitCode.notFound, retryable: false },
  ROUTE_NOT_FOUND: { exit: ExitCode.notFound, retryable: false },
  RPC_UNREACHABLE: { exit: ExitCode.network, retryable: true },
  SCORES_BAD_INPUT: { exit: ExitCode.user, retryable: false },
  SCORES_BAD_OPTION: { exit: ExitCode.user, retryable: false },
  SCORES_LENGTH_MISMATCH: { exit: ExitCode.user, retryable: false },
  SEALED_AUTH_FAILED: { exit: ExitCode.user, retryable: false },
  SEALED_BAD_MAGIC: { exit: ExitCode.user, retryable: false },
  SEALED_DELTA_PRIVATE: { exit: ExitCode.denied, retryable: false },
  SEALED_SIZE_MISMATCH: { exit: ExitCode.user, retryable: false },
  SEALED_UNSUPPORTED: { exit: ExitCode.user, retryable: false },
  SEAL_BAD_AAD: { exit: ExitCode.usage, retryable: false },
  SEAL_BAD_CHUNK: { exit: ExitCode.usage, retryable: false },
  SEAL_BAD_KEY: { exit: ExitCode.usage, retryable: false },
  SESSION_EXPIRED: { exit: ExitCode.denied, retryable: false },
  SESSION_INVALID: { exit: ExitCode.denied, retryable: false },
  SESSION_WRONG_JOB: { exit: ExitCode.denied, retryable: false },
  SIGNATURE_INVALID: { exit: ExitCode.denied, retryable: false },
  SIGNATURE_MISMATCH: { exit: ExitCode.denied, retryable: false },
  STAKE_TOO_LOW: { exit: ExitCode.denied, retryable: false },
  STAKE_UNCHECKABLE: { exit: ExitCode.denied, retryable: false },
  STAKING_JOB_UNKNOWN: { exit: ExitCode.notFound, retryable: false },
  STORE_UNREACHABLE: { exit: ExitCode.network, retryable: true },
  STRATEGY_BAD_PARAM: { exit: ExitCode.user, retryable: false },
  STRATEGY_UNKNOWN: { exit: ExitCode.user, retryable: false },
  SUBMISSION_DUPLICATE: { exit: ExitCode.user, alsoExit: [ExitCode.denied], retryable: false },
  SUBMISSION_EMPTY_BLOB: { exit: ExitCode.user, retryable: false },
  SUBMISSION_LENGTH_MISMATCH: { exit: ExitCode.user, retryable: false },
  SUBMISSION_LENGTH_REQUIRED: { exit: ExitCode.user, retryable: false },
  SUBMISSION_NO_SAMPLES: { exit: ExitCode.user, retryable: false },
  SUBMISSION_SAMPLE_MISMATCH: { exit: ExitCode.user, retryable: false },
  SUBMISSION_TOO_LARGE: { exit: ExitCode.user, retryable: false },
  SUBMISSION_UNSEALABLE: { exit: ExitCode.user, retryable: false },
  SUBMISSION_WRONG_ROUND: { exit: ExitCode.user, retryable: false },
  TRAIN_DIVERGED: { exit: ExitCode.user, retryable: false },
  TRAIN_NO_DATA: { exit: ExitCode.user, retryable: false },
  TRAIN_NO_MODEL: { exit: ExitCode.user, retryable: false },
  TRAIN_NORMALIZE_CONFLICT: { exit: ExitCode.usage, alsoExit: [ExitCode.user], retryable: false },
  TRAIN_OPTION: { exit: ExitCode.user, retryable: false },
  TX_REVERTED: { exit: ExitCode.failed, retryable: false },
  TX_UNCONFIRMED: { exit: ExitCode.network, retryable: true },
  UNKNOWN_CHAIN: { exit: ExitCode.usage, retryable: false },
  UNSUPPORTED: { exit: ExitCode.user, retryable: false },
  USAGE: { exit: ExitCode.usage, alsoExit: [ExitCode.user], retryable: false },
  USER_ERROR: { exit: ExitCode.user, retryable: false },
  WALLET_EXISTS: { exit: ExitCode.user, retryable: false },
  WEBGPU_DEVICE_LOST: { exit: ExitCode.user, retryable: false },
  WEBGPU_INIT_FAILED: { exit: ExitCode.user, retryable: false },
  WEBGPU_LOAD_FAILED: { exit: ExitCode.user, retryable: false },
  WEBGPU_NOT_INSTALLED: { exit: ExitCode.user, retryable: false },
  WEBGPU_NO_ADAPTER: { exit: ExitCode.user, retryable: false },
  WEBGPU_NO_VULKAN_LOADER: { exit: ExitCode.user, retryable: false },
  WEBGPU_SOFTWARE_ADAPTER: { exit: ExitCode.user, retryable: false },
  WEIGHTS_MISMATCH: { exit: ExitCode.user, retryable: false },
  WRONG_CHAIN: { exit: ExitCode.user, retryable: false },
  WRONG_PASSPHRASE: { exit: ExitCode.user, retryable: false },
} as const satisfies Record<string, ErrorCodeEntry>;

/** A stable error code: a key of {@link errorCatalogue}. An unknown code does not typecheck. */
export type ErrorCode = keyof typeof errorCatalogue;

/** True when `code` is a code of the catalogue (e.g. a code read back from an HTTP error body). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.hasOwn(errorCatalogue, code);
}

export interface DatErrorOptions {
  /** What the user can do about it; printed on its own line. */
  hint?: string;
  /** Extra lines that help (values held vs required, the file and line…). */
  details?: string[];
  /** Machine-readable context for --json (never secrets). */
  data?: Record<string, unknown>;
  cause?: unknown;
}

/** Base of every error dat throws on purpose. */
export class DatError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: ExitCodeValue;
  readonly hint?: string;
  readonly details: string[];
  readonly data?: Record<string, unknown>;

  constructor(code: ErrorCode, exitCode: ExitCodeValue, message: string, options: DatErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
    this.hint = options.hint;
    this.details = options.details ?? [];
    this.data = options.data;
  }
}

/** The user can fix it: bad input, bad config, wrong passphrase. No stack trace. */
export class UserError extends DatError {
  constructor(message: string, options: DatErrorOptions & { code?: ErrorCode } = {}) {
    super(options.code ?? "USER_ERROR", ExitCode.user, message, options);
  }
}

/** Malformed command line: unknown flag, missing argument, value of the wrong form. */
export class UsageError extends DatError {
  constructor(message: string, options: DatErrorOptions & { code?: ErrorCode } = {}) {
    super(options.code ?? "USAGE", ExitCode.usage, message, options);
  }
}

/** Something the user named does not exist. */
export class NotFoundError extends DatError {
  constructor(message: string, options: DatErrorOptions & { code?: ErrorCode } = {}) {
    super(options.code ?? "NOT_FOUND", ExitCode.notFound, message, options);
  }
}

/** Access refused (gate token balance, signature, registration, operator rights). */
export class DeniedError extends DatError {
  constructor(message: string, options: DatErrorOptions & { code?: ErrorCode } = {}) {
    super(options.code ?? "DENIED", ExitCode.denied, message, options);
  }
}

/** A remote peer (orchestrator, chain RPC, storage gateway) failed or was unreachable. */
export class NetworkError extends DatError {
  constructor(message: string, options: DatErrorOptions & { code?: ErrorCode } = {}) {
    super(options.code ?? "NETWORK", ExitCode.network, message, options);
  }
}

/** The operation ran to its end without reaching its goal (e.g. a round that failed). */
export class OperationFailedError extends DatError {
  constructor(message: string, options: DatErrorOptions & { code?: ErrorCode } = {}) {
    super(options.code ?? "FAILED", ExitCode.failed, message, options);
  }
}

/** Input bytes from a peer or a file are malformed (deltas, blobs, bodies). */
export class MalformedInputError extends DatError {
  constructor(message: string, options: DatErrorOptions & { code?: ErrorCode } = {}) {
    super(options.code ?? "MALFORMED", ExitCode.user, message, options);
  }
}

/** True for errors dat raised deliberately (anything else is a bug). */
export function isDatError(error: unknown): error is DatError {
  return error instanceof DatError;
}

/** Node and undici error codes of a connection that dropped, timed out or could not be opened. */
const NETWORK_FAULT_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN",
  "UND_ERR_SOCKET", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CLOSED",
]);

/**
 * Codes of a disk or database that failed for now: a blob of an acknowledged submission that
 * cannot be read yet, a full disk, a busy or locked SQLite file. Retrying a step that only read or
 * wrote durable state is safe, so these count as transient rather than as bad input.
 */
const IO_FAULT_CODES = new Set(["ENOENT", "EIO", "EACCES", "EPERM", "ENOSPC", "EMFILE", "EBUSY"]);
const SQLITE_FAULT = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN)/;

/**
 * Whether trying the same operation again may succeed. A dat error answers from the catalogue (an
 * error code from a newer peer that the catalogue does not know is retryable only when it is a
 * network error); any other error is retryable when it, or an error in its `cause` chain, is a
 * network fault (ECONNRESET, ETIMEDOUT, undici socket errors…) or a transient disk/database fault.
 * Everything else (bad input, refusals, bugs) would fail the same way again.
 */
export function isRetryable(error: unknown): boolean {
  const seen = new Set<unknown>();
  for (let e = error; e !== null && typeof e === "object" && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (isErrorCode(code)) return errorCatalogue[code].retryable;
    if (e instanceof DatError) return e.exitCode === ExitCode.network;
    if (typeof code === "string" && (NETWORK_FAULT_CODES.has(code) || IO_FAULT_CODES.has(code) || SQLITE_FAULT.test(code))) return true;
  }
  return false;
}
