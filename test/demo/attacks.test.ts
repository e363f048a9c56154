import { describe, expect, it } from "vitest";
import { parseAttack, poisonDelta, poisonVector } from "../../src/demo/attacks.js";
import { DatError } from "../../src/core/errors.js";

describe("attacks", () => {
  it("sign-flips a delta without touching the honest copy", () => {
    // Prepare
    const honest = [
      { name: "dense/kernel", shape: [2, 2], data: new Float32Array([1, -2, 3, 0]) },
      { name: "dense/bias", shape: [2], data: new Float32Array([0.5, -0.5]) },
    ];

    // Execute
    const poisoned = poisonDelta(honest, { kind: "sign-flip", factor: 1 });

    // Assert
    expect(Array.from(poisoned[0].data)).toEqual([-1, 2, -3, -0]);
    expect(Array.from(poisoned[1].data)).toEqual([-0.5, 0.5]);
    expect(poisoned[0].name).toBe("dense/kernel");
    expect(poisoned[0].shape).toEqual([2, 2]);
    expect(Array.from(honest[0].data)).toEqual([1, -2, 3, 0]);
    expect(poisoned[0].data).not.toBe(honest[0].data);
  });

  it("scales a delta by the factor, and a sign-flip with a factor scales it negatively", () => {
    expect(Array.from(poisonVector(new Float32Array([1, -2]), { kind: "scale", factor: 10 }))).toEqual([10, -20]);
    expect(Array.from(poisonVector(new Float32Array([1, -2]), { kind: "sign-flip", factor: 3 }))).toEqual([-3, 6]);
  });

  it("parses attack specs with default factors", () => {
    expect(parseAttack("sign-flip")).toEqual({ kind: "sign-flip", factor: 1 });
    expect(parseAttack("scale")).toEqual({ kind: "scale", factor: 10 });
    expect(parseAttack("scale:2.5")).toEqual({ kind: "scale", factor: 2.5 });
  });

  it.each(["", "flip", "scale:", "scale:0", "scale:-1", "scale:abc", "sign-flip:Infinity", "scale:1:2"])(
    "rejects the malformed attack %j",
    (text) => {
      expect(() => parseAttack(text)).toThrow(DatError);
      try {
        parseAttack(text);
      } catch (error) {
        expect((error as DatError).code).toBe("BAD_ATTACK");
      }
    },
  );
});
