/** A UCI-digits-like CSV for the tests of issue 14 (no fixture): 8×8 pixels 0..16, 10 classes. */
import fs from "node:fs";
import { seededRandom as prng } from "../../../../src/core/privacy/noise.js";

/** 8×8 "digits": each class lights its own pixels (values 0..16) plus integer noise. */
export function writeDigitsCsv(file: string, rows: number, seed: number): number[][] {
  const templates = Array.from({ length: 10 }, (_, c) => {
    const r = prng(1000 + c);
    return Array.from({ length: 64 }, () => (r() < 0.3 ? 12 + Math.floor(r() * 5) : Math.floor(r() * 3)));
  });
  const next = prng(seed);
  const data: number[][] = [];
  const lines = [[...Array.from({ length: 64 }, (_, i) => `p${i}`), "label"].join(",")];
  for (let i = 0; i < rows; i++) {
    const label = i % 10;
    const pixels = templates[label].map((v) => Math.max(0, Math.min(16, v + Math.floor(next() * 7) - 3)));
    data.push([...pixels, label]);
    lines.push([...pixels, label].join(","));
  }
  fs.writeFileSync(file, lines.join("\n") + "\n");
  return data;
}
