/**
 * How human output writes numbers and addresses, in one place so every command agrees: token
 * amounts with at most 4 significant decimals (the exact base units go to --json), fractions as
 * percentages with one decimal, losses with four decimals, addresses checksummed (EIP-55).
 */
// keccak alone, not viem: job show and round status are polled by scripts and must start fast.
import { keccak_256 } from "@noble/hashes/sha3.js";

/** The symbol of dat's own token (DatToken, 18 decimals). */
const DAT_SYMBOL = "DAT";

/** Token amount for people: "35.0204 DAT"; below 1, four significant digits ("0.00001234 DAT"); never rounds a non-zero amount to 0. */
export function formatTokenAmount(amount: bigint | string | number, options: { decimals?: number; symbol?: string } = {}): string {
  const decimals = options.decimals ?? 18;
  const symbol = options.symbol === undefined ? DAT_SYMBOL : options.symbol;
  const value = BigInt(amount);
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const base = 10n ** BigInt(decimals);
  const whole = abs / base;
  const digits = (abs % base).toString().padStart(decimals, "0");
  // Truncate rather than round: a balance is never shown as more than it is.
  const keep = whole > 0n ? 4 : Math.min(decimals, digits.search(/[1-9]/) + 4);
  const fraction = (digits.search(/[1-9]/) === -1 ? "" : digits.slice(0, Math.max(keep, 0))).replace(/0+$/, "");
  return `${negative ? "-" : ""}${whole}${fraction ? "." + fraction : ""}${symbol ? " " + symbol : ""}`;
}

/** A fraction (accuracy, share) as a percentage: 0.6061 → "60.6%"; "-" when missing. */
export function formatPercent(fraction: number | null | undefined): string {
  return fraction === null || fraction === undefined || !Number.isFinite(fraction) ? "-" : `${(fraction * 100).toFixed(1)}%`;
}

/** A loss or score with four decimals; "-" when missing. */
export function formatMetric(value: number | null | undefined, digits = 4): string {
  return value === null || value === undefined || !Number.isFinite(value) ? "-" : value.toFixed(digits);
}

/** An address as people compare them: EIP-55 checksummed; anything that is not an address unchanged. */
export function formatAddress(address: string): string {
  if (!/^0x[0-9a-fA-F]{40}$/.test(address)) return address;
  const lower = address.slice(2).toLowerCase();
  const hash = keccak_256(new TextEncoder().encode(lower));
  let out = "0x";
  for (let i = 0; i < 40; i++) {
    const nibble = (hash[i >> 1] >> (i % 2 === 0 ? 4 : 0)) & 0xf;
    out += nibble >= 8 ? lower[i].toUpperCase() : lower[i];
  }
  return out;
}
