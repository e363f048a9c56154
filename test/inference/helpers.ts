import { expect } from "vitest";
import { DatError } from "../../src/core/errors.js";

/** The typed error `p` rejects with; fails the test when it resolves or throws something untyped. */
export async function rejection(p: Promise<unknown>): Promise<DatError> {
  try {
    await p;
  } catch (error) {
    expect(error).toBeInstanceOf(DatError);
    return error as DatError;
  }
  throw new Error("expected a rejection");
}
