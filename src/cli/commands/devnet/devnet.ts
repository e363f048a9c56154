import path from "node:path";
import type { CliContext } from "../../context.js";
import { UsageError } from "../../../core/errors.js";
import { keystoreExists, readAddress } from "../../../crypto/keystore.js";
import { launchDevnet } from "../../../chain/launch.js";
import type { DevnetTransaction } from "../../../chain/devnet.js";

/** Parse a decimal integer option within bounds, or fail with a UsageError naming the flag. */
export function parseIntOption(flag: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`${flag} must be an integer from ${min} to ${max}, got "${value}".`, { code: "BAD_OPTION" });
  }
  return Number(value);
}

export async function devnet(ctx: CliContext, opts: { port: string; accounts: string; state?: string }): Promise<void> {
  const port = parseIntOption("--port", opts.port, 0, 65535);
  const accounts = parseIntOption("--accounts", opts.accounts, 1, 1000);
  if (opts.state !== undefined && opts.state.trim() === "") {
    throw new UsageError("--state needs a file path.", { code: "BAD_OPTION" });
  }
  const statePath = opts.state === undefined ? undefined : path.resolve(opts.state);
  let operator;
  if (keystoreExists(ctx.home)) {
    operator = await readAddress(ctx.home);
  } else {
    ctx.out.warn(`No wallet in ${ctx.home}: the first devnet account owns the contracts. Run \`dat init\` to use your own.`);
  }
  const { contractMethodName } = await import("../../../chain/selectors.js");
  const logTransaction = (tx: DevnetTransaction) => {
    const method = tx.contractAddress ? "deploy" : (contractMethodName(tx.selector) ?? (tx.selector ?? "transfer"));
    ctx.out.event("devnet.tx", { method, hash: tx.hash, gasUsed: tx.gasUsed, status: tx.status, block: tx.blockNumber });
    if (!ctx.json) {
      const gas = tx.gasUsed === null ? "pending" : `gas ${tx.gasUsed}`;
      ctx.out.info(`tx ${method} ${tx.hash} ${gas}${tx.status === "reverted" ? " REVERTED" : ""}${tx.contractAddress ? ` → ${tx.contractAddress}` : ""}`);
    }
  };
  // No spinner: it hides the cursor and puts stdin in raw mode, which stops a background job
  // (`dat devnet &`) with SIGTTOU; a devnet is a long-running process whose log is plain lines.
  ctx.out.info(statePath ? `Starting the devnet with state ${statePath}…` : "Starting the devnet and deploying contracts…");
  const launched = await launchDevnet({ home: ctx.home, port, accounts, operator, statePath, onTransaction: logTransaction });
  const { privateKeyToAddress } = await import("viem/accounts");
  const funded = launched.devnet.accounts.map((key) => ({ address: privateKeyToAddress(key), privateKey: key }));
  const summary = {
    url: launched.url,
    chainId: launched.chainId,
    operator: launched.operator,
    operatorTokens: launched.operatorTokens,
    operatorEth: launched.operatorEth,
    ...launched.contracts,
    state: statePath ?? null,
    restored: launched.restored,
    // Keys of Hardhat's public test mnemonic: known to everyone, for a local devnet only.
    accounts: funded,
    accountsMnemonic: "test test test test test test test test test test test junk",
  };
  const { accounts: _keys, ...announced } = summary;
  ctx.out.event("devnet.ready", announced);
  ctx.out.result(summary, (s) => [
    `rpc url      ${s.url}`,
    `chain id     ${s.chainId}`,
    `token        ${s.token}`,
    `registry     ${s.registry}`,
    `distributor  ${s.distributor}`,
    `staking      ${s.staking}`,
    `operator     ${s.operator} (${s.operatorTokens / 10n ** 18n} DAT, ${s.operatorEth / 10n ** 18n} ETH)`,
    ...(s.state ? [`state        ${s.state} (${s.restored ? "restored: contracts, balances and rounds as saved" : "new"})`] : []),
    "",
    `Funded accounts (10 000 ETH each). PUBLIC TEST KEYS of Hardhat's mnemonic "${s.accountsMnemonic}":`,
    "anyone can use them — never send them real funds.",
    ...s.accounts.map((a, i) => `  (${i}) ${a.address}  ${a.privateKey}`),
    "",
    `Saved to the config of ${ctx.home}. Press Ctrl-C to stop.`,
  ]);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await launched.devnet.stop();
  ctx.out.info(`Devnet stopped (${signal}).`);
  ctx.out.event("devnet.stopped", { signal });
}
