import { UserError } from "../../../core/errors.js";
import type { CliContext } from "../../context.js";
import { canPrompt, promptSecret, readPassphrase } from "../../unlock.js";

export interface InitOptions {
  import?: boolean;
  force?: boolean;
}

const MAX_KEY_INPUT = 4096;

/** The key to import: DAT_PRIVATE_KEY, else piped stdin, else a hidden prompt. Never argv. */
async function readPrivateKey(ctx: CliContext): Promise<string> {
  const fromEnv = ctx.env.DAT_PRIVATE_KEY;
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of process.stdin) {
      size += (chunk as Buffer).length;
      if (size > MAX_KEY_INPUT) throw new UserError("Too much input on stdin for a private key.", { code: "BAD_PRIVATE_KEY" });
      chunks.push(chunk as Buffer);
    }
    const text = Buffer.concat(chunks).toString("utf8").trim();
    if (text === "") {
      throw new UserError("No private key on stdin.", {
        code: "BAD_PRIVATE_KEY",
        hint: "Pipe the hex key into dat init --import, or set DAT_PRIVATE_KEY.",
      });
    }
    return text;
  }
  if (canPrompt(ctx)) return promptSecret("Private key to import (hex):");
  throw new UserError("--import needs a private key and there is no terminal to ask for it.", {
    code: "BAD_PRIVATE_KEY",
    hint: "Pipe the hex key into dat init --import, or set DAT_PRIVATE_KEY.",
  });
}

export async function init(ctx: CliContext, opts: InitOptions): Promise<void> {
  const { initHome, refuseExistingWallet } = await import("../../../crypto/initHome.js");
  const { parsePrivateKey } = await import("../../../crypto/keystore.js");
  const { inspectHome } = await import("../../../config/home.js");
  // Refuse before asking for anything the user would have typed in vain.
  inspectHome(ctx.home);
  await refuseExistingWallet(ctx.home, opts.force);
  const privateKey = opts.import ? await readPrivateKey(ctx) : undefined;
  if (privateKey !== undefined) parsePrivateKey(privateKey);
  const passphrase = await readPassphrase(ctx, { confirm: true, message: "Choose a wallet passphrase:" });
  const spin = await ctx.out.spinner("Encrypting the wallet (scrypt)…");
  let result;
  try {
    result = await initHome(ctx.home, { passphrase, privateKey, force: opts.force, env: ctx.env });
  } catch (error) {
    spin.fail();
    throw error;
  }
  spin.succeed(result.imported ? "Wallet imported" : "Wallet created");
  if (result.backup) ctx.out.warn(`The previous keystore was moved to ${result.backup}`);
  ctx.out.result(result, (r, c) => [
    `${c.bold("address")}   ${r.address}`,
    `home      ${r.home}`,
    `keystore  ${r.keystore}`,
    `config    ${r.config}${r.configCreated ? "" : " (kept)"}`,
  ]);
}
