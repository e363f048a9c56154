/**
 * What every command receives: the resolved global flags and the output. Command files parse
 * their own options, call one service function and render its result through `ctx.out`.
 */
import type { Command } from "commander";
import { Output } from "./output.js";
import { resolveHome } from "../config/home.js";
import type { LoadConfigOptions } from "../config/load.js";

/** The global flags, as commander parsed them. */
export interface GlobalOptions {
  home?: string;
  json?: boolean;
  quiet?: boolean;
  yes?: boolean;
  orchestrator?: string;
  rpcUrl?: string;
}

export interface CliContext {
  /** Absolute path of the dat home: --home, else $DAT_HOME, else ~/.dat. */
  home: string;
  json: boolean;
  quiet: boolean;
  /** Never prompt: also implied by --json and by a non-TTY stdin. */
  yes: boolean;
  orchestrator?: string;
  rpcUrl?: string;
  env: NodeJS.ProcessEnv;
  out: Output;
}

export { resolveHome };

/** What loadConfig needs from the context: the home, the environment and the config-naming flags. */
export function configOptions(ctx: Pick<CliContext, "home" | "env" | "orchestrator" | "rpcUrl">): LoadConfigOptions {
  return { home: ctx.home, env: ctx.env, flags: { orchestrator: ctx.orchestrator, rpcUrl: ctx.rpcUrl } };
}

export function createContext(globals: GlobalOptions, env: NodeJS.ProcessEnv = process.env): CliContext {
  const json = Boolean(globals.json);
  const quiet = Boolean(globals.quiet);
  return {
    home: resolveHome(globals.home, env),
    json,
    quiet,
    yes: Boolean(globals.yes) || json || !process.stdin.isTTY || env.CI === "true",
    orchestrator: globals.orchestrator ?? env.DAT_ORCHESTRATOR,
    rpcUrl: globals.rpcUrl ?? env.DAT_RPC_URL,
    env,
    out: new Output({ json, quiet }),
  };
}

/**
 * Wrap a command's handler for commander: builds the context from the global flags and hands over
 * the positional arguments and the command's own options. Errors propagate to the one top-level
 * handler in main.ts, which prints them and sets the exit code.
 */
export function action<O extends object>(
  run: (ctx: CliContext, options: O, args: string[]) => Promise<void>,
): (...commanderArgs: unknown[]) => Promise<void> {
  return async (...commanderArgs: unknown[]) => {
    const command = commanderArgs[commanderArgs.length - 1] as Command;
    const options = commanderArgs[commanderArgs.length - 2] as O;
    const args = commanderArgs.slice(0, -2) as string[];
    const ctx = createContext(command.optsWithGlobals() as GlobalOptions);
    await run(ctx, options, args);
  };
}

/** Help text block with examples, appended to a command's --help. */
export function examples(...lines: string[]): string {
  return "\nExamples:\n" + lines.map((l) => `  $ ${l}`).join("\n") + "\n";
}
