import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { CliContext } from "../../src/cli/context.js";
import { Output } from "../../src/cli/output.js";
import { unlockAccount } from "../../src/cli/unlock.js";
import { createKeystore } from "../../src/crypto/keystore.js";

const homes: string[] = [];
afterEach(() => {
  for (const h of homes.splice(0)) fs.rmSync(h, { recursive: true, force: true });
});

function context(home: string, env: NodeJS.ProcessEnv): CliContext {
  return { home, json: true, quiet: true, yes: true, env, out: new Output({ json: true, quiet: true }) };
}

describe("unlockAccount", () => {
  it("unlocks with DAT_PASSPHRASE, and refuses a wrong or missing one without prompting", async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "dat-unlock-"));
    homes.push(home);
    const created = await createKeystore(home, { passphrase: "s3cret", env: { DAT_SCRYPT_N: "1024" } });

    const account = await unlockAccount(context(home, { DAT_PASSPHRASE: "s3cret" }));
    const wrong = await unlockAccount(context(home, { DAT_PASSPHRASE: "nope" })).catch((e) => e);
    const missing = await unlockAccount(context(home, {})).catch((e) => e);

    expect(account.address).toBe(created.address);
    expect(wrong.code).toBe("WRONG_PASSPHRASE");
    expect(missing.code).toBe("PASSPHRASE_REQUIRED");
    expect(missing.hint).toContain("DAT_PASSPHRASE");
  });
});
