/**
 * The ordered list of schema migrations. Each is applied once, in its own transaction, and bumps
 * PRAGMA user_version to its number. Numbers are reserved per part: 001 foundation, 002 training,
 * 003 orchestrator, 004 chain, 005 inference, 006 defend, 007 nodes heartbeat, 008 econ, 009 preprocess, 010 round open stake, 011 model_keys plain_cid index. Never edit a migration that has shipped: add one.
 */
import { migration001Foundation } from "./001_foundation.js";
import { migration002Training } from "./002_training.js";
import { migration003Orchestrator } from "./003_orchestrator.js";
import { migration004Chain } from "./004_chain.js";
import { migration005Inference } from "./005_inference.js";
import { migration006Defend } from "./006_defend.js";
import { migration007NodesHeartbeat } from "./007_nodes_heartbeat.js";
import { migration008Econ } from "./008_econ.js";
import { migration009Preprocess } from "./009_preprocess.js";
import { migration010RoundOpenStake } from "./010_round_open_stake.js";
import { migration011ModelKeysPlainCid } from "./011_model_keys_plain_cid.js";

export interface Migration {
  version: number;
  name: string;
  /** SQL, possibly several statements. */
  up: string;
}

export const migrations: readonly Migration[] = [
  migration001Foundation,
  migration002Training,
  migration003Orchestrator,
  migration004Chain,
  migration005Inference,
  migration006Defend,
  migration007NodesHeartbeat,
  migration008Econ,
  migration009Preprocess,
  migration010RoundOpenStake,
  migration011ModelKeysPlainCid,
];
