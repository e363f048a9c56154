import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { decryptModelBlob, encryptModelBlob, isEncryptedModelBlob, modelsCacheDir, readCachedModel, writeCachedModel } from "../../src/inference/modelKeys.js";
import { DatError } from "../../src/core/errors.js";

let home: string;
beforeEach(() => { home = fs.mkdtempSync(path.join(os.tmpdir(), "dat-modelkeys-")); });
afterEach(() => { fs.rmSync(home, { recursive: true, force: true }); });

function code(run: () => unknown): string {
  try { run(); } catch (error) { expect(error).toBeInstanceOf(DatError); return (error as DatError).code; }
  throw new Error("expected an error");
}

describe("model encryption", () => {
  it("round-trips under the key and refuses a wrong key, altered bytes and malformed blobs", () => {
    const plain = new Uint8Array(randomBytes(1000));
    const { blob, key } = encryptModelBlob(plain);
    expect(isEncryptedModelBlob(blob)).toBe(true);
    expect(Buffer.from(blob).includes(Buffer.from(plain.subarray(0, 32)))).toBe(false);
    expect(decryptModelBlob(blob, key)).toEqual(plain);
    expect(code(() => decryptModelBlob(blob, new Uint8Array(randomBytes(32))))).toBe("MODEL_KEY_WRONG");
    const altered = blob.slice();
    altered[40] ^= 1;
    expect(code(() => decryptModelBlob(altered, key))).toBe("MODEL_KEY_WRONG");
    const version = blob.slice();
    version[4] = 9;
    expect(code(() => decryptModelBlob(version, key))).toBe("MODEL_BLOB_MALFORMED");
    expect(code(() => decryptModelBlob(plain, key))).toBe("MODEL_BLOB_MALFORMED");
    expect(code(() => decryptModelBlob(blob.subarray(0, 20), key))).toBe("MODEL_BLOB_MALFORMED");
    expect(code(() => decryptModelBlob(blob, key.subarray(0, 16)))).toBe("MODEL_KEY_MALFORMED");
  });
});

describe("models cache", () => {
  it("stores models encrypted at rest under a home-only key, every file mode 0600", () => {
    const plain = new Uint8Array(randomBytes(500));
    const file = writeCachedModel(home, "bafkreiabc", plain);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(modelsCacheDir(home)).mode & 0o777).toBe(0o700);
    for (const f of fs.readdirSync(modelsCacheDir(home))) expect(fs.statSync(path.join(modelsCacheDir(home), f)).mode & 0o777).toBe(0o600);
    expect(Buffer.from(fs.readFileSync(file)).includes(Buffer.from(plain.subarray(0, 32)))).toBe(false);
    expect(readCachedModel(home, "bafkreiabc")).toEqual(plain);
    expect(readCachedModel(home, "bafkreimissing")).toBeUndefined();
  });

  it("drops an entry that no longer opens, and refuses a CID that is a path", () => {
    const file = writeCachedModel(home, "bafkreiabc", new Uint8Array([1, 2, 3]));
    fs.writeFileSync(file, Buffer.from("garbage"));
    expect(readCachedModel(home, "bafkreiabc")).toBeUndefined();
    expect(fs.existsSync(file)).toBe(false);
    expect(code(() => readCachedModel(home, "../../etc/passwd"))).toBe("CID_MALFORMED");
  });
});
