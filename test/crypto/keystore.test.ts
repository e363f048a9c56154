import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { privateKeyToAccount } from "viem/accounts";
import { afterEach, describe, expect, it } from "vitest";
import { createKeystore, keystoreExists, keystorePath, loadAccount, readAddress, scryptCost } from "../../src/crypto/keystore.js";

// Low scrypt cost keeps the suite fast; DAT_SCRYPT_N exists only for this.
const env = { DAT_SCRYPT_N: "1024" };
const KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
const homes: string[] = [];
function tempHome(): string {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "dat-ks-"));
  homes.push(home);
  return home;
}
afterEach(() => {
  for (const h of homes.splice(0)) fs.rmSync(h, { recursive: true, force: true });
});

async function errorOf(run: () => Promise<unknown>): Promise<any> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  throw new Error("expected an error");
}

describe("keystore", () => {
  it("round-trips an imported key: same address, file mode 0600, scrypt V3", async () => {
    const home = tempHome();

    const created = await createKeystore(home, { passphrase: "correct horse", privateKey: KEY, env });
    const account = await loadAccount(home, "correct horse");
    const file = JSON.parse(fs.readFileSync(keystorePath(home), "utf8"));

    expect(created.address).toBe(privateKeyToAccount(KEY).address);
    expect(account.address).toBe(created.address);
    expect(await readAddress(home)).toBe(created.address);
    expect(fs.statSync(keystorePath(home)).mode & 0o777).toBe(0o600);
    expect(file.version).toBe(3);
    expect(file.crypto.kdf).toBe("scrypt");
    expect(file.crypto.kdfparams.n).toBe(1024);
    expect(fs.readFileSync(keystorePath(home), "utf8")).not.toContain(KEY.slice(2));
  });

  it("generates a fresh key that signs", async () => {
    const home = tempHome();

    const created = await createKeystore(home, { passphrase: "pw", env });
    const account = await loadAccount(home, "pw");
    const signature = await account.signMessage({ message: "hello" });

    expect(account.address).toBe(created.address);
    expect(signature).toMatch(/^0x[0-9a-f]{130}$/);
    expect(keystoreExists(home)).toBe(true);
  });

  it("refuses a wrong passphrase with WRONG_PASSPHRASE", async () => {
    const home = tempHome();
    await createKeystore(home, { passphrase: "right", env });

    const error = await errorOf(() => loadAccount(home, "wrong"));

    expect(error.code).toBe("WRONG_PASSPHRASE");
    expect(error.exitCode).toBe(3);
  });

  it("refuses a keystore readable by others, hinting chmod 600, and leaves it as it is", async () => {
    const home = tempHome();
    await createKeystore(home, { passphrase: "pw", env });
    fs.chmodSync(keystorePath(home), 0o644);

    const error = await errorOf(() => loadAccount(home, "pw"));

    expect(error.code).toBe("KEYSTORE_MODE");
    expect(error.hint).toContain(`chmod 600 ${keystorePath(home)}`);
    expect(fs.statSync(keystorePath(home)).mode & 0o777).toBe(0o644);
  });

  it("never overwrites a wallet without force; with force it keeps a backup", async () => {
    const home = tempHome();
    const first = await createKeystore(home, { passphrase: "pw", env });
    const before = fs.readFileSync(keystorePath(home), "utf8");

    const refused = await errorOf(() => createKeystore(home, { passphrase: "pw", privateKey: KEY, env }));
    const untouched = fs.readFileSync(keystorePath(home), "utf8");
    const replaced = await createKeystore(home, { passphrase: "pw2", privateKey: KEY, env, force: true });

    expect(refused.code).toBe("WALLET_EXISTS");
    expect(untouched).toBe(before);
    expect(replaced.address).toBe(privateKeyToAccount(KEY).address);
    expect(replaced.backup && fs.readFileSync(replaced.backup, "utf8")).toBe(before);
    expect((await loadAccount(home, "pw2")).address).toBe(replaced.address);
    expect(first.address).not.toBe(replaced.address);
  });

  it("rejects malformed input: bad keys, empty passphrase, bad DAT_SCRYPT_N, missing and corrupt keystores", async () => {
    const home = tempHome();

    const shortKey = await errorOf(() => createKeystore(home, { passphrase: "pw", privateKey: "0x1234", env }));
    const zeroKey = await errorOf(() => createKeystore(home, { passphrase: "pw", privateKey: "0".repeat(64), env }));
    const empty = await errorOf(() => createKeystore(home, { passphrase: "", env }));
    const missing = await errorOf(() => loadAccount(home, "pw"));
    fs.writeFileSync(keystorePath(home), "{not json", { mode: 0o600 });
    const corrupt = await errorOf(() => loadAccount(home, "pw"));

    expect(shortKey.code).toBe("BAD_PRIVATE_KEY");
    expect(shortKey.message).not.toContain("1234");
    expect(zeroKey.code).toBe("BAD_PRIVATE_KEY");
    expect(empty.code).toBe("EMPTY_PASSPHRASE");
    expect(missing.code).toBe("NO_WALLET");
    expect(corrupt.code).toBe("KEYSTORE_CORRUPT");
    expect(() => scryptCost({ DAT_SCRYPT_N: "1000" })).toThrow(/power of two/);
    expect(scryptCost({})).toBe(262144);
  });
});
