import { describe, expect, it } from "vitest";
import { formatAddress, formatMetric, formatPercent, formatTokenAmount } from "../../src/cli/format.js";

describe("human formats", () => {
  it("writes token amounts with at most 4 decimals, never rounding a non-zero amount to 0", () => {
    expect(formatTokenAmount(35020435045146564680n)).toBe("35.0204 DAT");
    expect(formatTokenAmount("100000000000000000000")).toBe("100 DAT");
    expect(formatTokenAmount(25n * 10n ** 17n)).toBe("2.5 DAT");
    expect(formatTokenAmount(0n)).toBe("0 DAT");
    expect(formatTokenAmount(12345678901234n)).toBe("0.00001234 DAT");
    expect(formatTokenAmount(1n)).toBe("0.000000000000000001 DAT");
    expect(formatTokenAmount(-15n * 10n ** 17n)).toBe("-1.5 DAT");
    expect(formatTokenAmount(1234567n, { decimals: 6, symbol: "USDC" })).toBe("1.2345 USDC");
  });
  it("writes fractions as percentages, metrics with 4 decimals, '-' when missing", () => {
    expect(formatPercent(0.6061)).toBe("60.6%");
    expect(formatPercent(1)).toBe("100.0%");
    expect(formatPercent(null)).toBe("-");
    expect(formatPercent(Number.NaN)).toBe("-");
    expect(formatMetric(0.123456)).toBe("0.1235");
    expect(formatMetric(undefined)).toBe("-");
  });
  it("checksums addresses and leaves other strings alone", () => {
    // EIP-55's own test vectors.
    expect(formatAddress("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")).toBe("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");
    expect(formatAddress("0xFB6916095CA1DF60BB79CE92CE3EA74C37C5D359")).toBe("0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359");
    expect(formatAddress("not-an-address")).toBe("not-an-address");
  });
});
