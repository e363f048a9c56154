/**
 * Passphrases and unlocking the wallet: DAT_PASSPHRASE, else a hidden prompt on a TTY (never under
 * --yes/--json or without a TTY), else a UserError saying how to provide one.
 */
import type { PrivateKeyAccount } from "viem";
import { UserError } from "../core/errors.js";
import { loadAccount } from "../crypto/keystore.js";
import type { CliContext } from "./context.js";

/** Whether a prompt may be shown: a TTY on both ends and no --yes/--json. */
export function canPrompt(ctx: CliContext): boolean {
  return !ctx.yes && Boolean(process.stdin.isTTY) && Boolean(process.stderr.isTTY);
}

/** Ask for a secret without echo; prompts go to stderr so stdout stays the command's result. */
export async function promptSecret(message: string, validate?: (value: string) => true | string): Promise<string> {
  const { password } = await import("@inquirer/prompts");
  try {
    return await password({ message, mask: "*", validate }, { output: process.stderr });
  } catch (error) {
    if ((error as Error).name === "ExitPromptError") throw new UserError("Cancelled.", { code: "CANCELLED" });
    throw error;
  }
}

export interface ReadPassphraseOptions {
  /** Ask twice and require both to match (choosing a new passphrase). */
  confirm?: boolean;
  message?: string;
}

/** The passphrase from DAT_PASSPHRASE or a prompt; a UserError when neither is possible. */
export async function readPassphrase(ctx: CliContext, options: ReadPassphraseOptions = {}): Promise<string> {
  const fromEnv = ctx.env.DAT_PASSPHRASE;
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  if (!canPrompt(ctx)) {
    throw new UserError("A wallet passphrase is needed and there is no terminal to ask for it.", {
      code: "PASSPHRASE_REQUIRED",
      hint: "Set DAT_PASSPHRASE in the environment (or run in a terminal without --yes/--json).",
    });
  }
  const first = await promptSecret(options.message ?? "Wallet passphrase:", (v) => (v.length > 0 ? true : "The passphrase must not be empty"));
  if (!options.confirm) return first;
  const second = await promptSecret("Repeat the passphrase:");
  if (first !== second) throw new UserError("The passphrases do not match.", { code: "PASSPHRASE_MISMATCH", hint: "Run the command again." });
  return first;
}

/** Decrypt the wallet of ctx.home with the passphrase from DAT_PASSPHRASE or a prompt. */
export async function unlockAccount(ctx: CliContext): Promise<PrivateKeyAccount> {
  const passphrase = await readPassphrase(ctx);
  return loadAccount(ctx.home, passphrase);
}
