import { describe, expect, it } from "vitest";
import { bytesMatchCid, cidForBytes, parseCid } from "../../src/store/cid.js";

describe("IPFS CIDs", () => {
  it("match the CIDs kubo's `ipfs add` gives well-known files (v0 and v1)", async () => {
    const hello = new TextEncoder().encode("hello world\n");

    // `echo "hello world" | ipfs add` and `… | ipfs add --cid-version=1`
    expect(await cidForBytes(hello, 0)).toBe("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
    expect(await cidForBytes(hello)).toBe("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4");
    // The empty file.
    expect(await cidForBytes(new Uint8Array(0), 0)).toBe("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
  });

  it("gives a dag-pb root for multi-chunk files and verifies either version", async () => {
    const big = new Uint8Array(600_000).map((_, i) => i % 251);

    const v1 = await cidForBytes(big);
    const v0 = await cidForBytes(big, 0);

    expect(v1.startsWith("bafybei")).toBe(true);
    expect(v0.startsWith("Qm")).toBe(true);
    expect(await bytesMatchCid(big, v1)).toBe(true);
    expect(await bytesMatchCid(big, v0)).toBe(true);
    big[1] ^= 1;
    expect(await bytesMatchCid(big, v1)).toBe(false);
  });

  it("rejects strings that are not CIDs", () => {
    for (const bad of ["", "hello", "Qm123", "bafy!!"]) expect(() => parseCid(bad)).toThrow(expect.objectContaining({ code: "CID_INVALID" }));
  });
});
