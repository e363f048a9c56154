import type { CliContext } from "../../context.js";
import { UsageError } from "../../../core/errors.js";
import { keystoreExists, readAddress } from "../../../crypto/keystore.js";
import { launchDevnet } from "../../../chain/launch.js";

/** Parse a decimal integer option within bounds, or fail with a UsageError naming the flag. */
export function parseIntOption(flag: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`${flag} must be an integer from ${min} to ${max}, got "${value}".`, { code: "BAD_OPTION" });
  }
  return Number(value);
}

export async function devnet(ctx: CliContext, opts: { port: string; accounts: string }): Promise<void> {
  const port = parseIntOption("--port", opts.port, 0, 65535);
  const accounts = parseIntOption("--accounts", opts.accounts, 1, 1000);
  let operator;
  if (keystoreExists(ctx.home)) {
    operator = await readAddress(ctx.home);
  } else {
    ctx.out.warn(`No wallet in ${ctx.home}: the first devnet account owns the contracts. Run \`dat init\` to use your own.`);
  }
  const spinner = await ctx.out.spinner("Starting the devnet and deploying contracts…");
  const launched = await launchDevnet({ home: ctx.home, port, accounts, operator });
  spinner.succeed(`Devnet running at ${launched.url} (chain ${launched.chainId})`);
  const summary = {
    url: launched.url,
    chainId: launched.chainId,
    operator: launched.operator,
    operatorTokens: launched.operatorTokens,
    operatorEth: launched.operatorEth,
    ...launched.contracts,
  };
  ctx.out.event("devnet.ready", summary);
  ctx.out.result(summary, (s) => [
    `rpc url      ${s.url}`,
    `chain id     ${s.chainId}`,
    `token        ${s.token}`,
    `registry     ${s.registry}`,
    `distributor  ${s.distributor}`,
    `operator     ${s.operator} (${s.operatorTokens / 10n ** 18n} DAT, ${s.operatorEth / 10n ** 18n} ETH)`,
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
