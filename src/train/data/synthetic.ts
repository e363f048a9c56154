/**
 * Seeded synthetic data for tests and demos: digits-like 28×28×1 images whose classes have
 * learnable structure (each class is a fixed random stroke pattern, drawn shifted and noisy), and
 * tabular data (Gaussian clusters, one per class).
 */
import { createRng, type Rng } from "../rng.js";
import { arraySource, type DataSource } from "./source.js";

export interface SyntheticDigitsOptions {
  count: number;
  seed?: number;
  classes?: number;
  /** Side of the square image (28 for MNIST-like). */
  size?: number;
  /** Pixel noise standard deviation. */
  noise?: number;
}

function drawStroke(img: Float32Array, side: number, x0: number, y0: number, x1: number, y1: number): void {
  const steps = Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0)) * 2) + 1;
  for (let s = 0; s <= steps; s++) {
    const t = s / steps;
    const cx = x0 + (x1 - x0) * t;
    const cy = y0 + (y1 - y0) * t;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const px = Math.round(cx + dx);
        const py = Math.round(cy + dy);
        if (px < 0 || py < 0 || px >= side || py >= side) continue;
        const v = dx === 0 && dy === 0 ? 1 : 0.6;
        img[py * side + px] = Math.max(img[py * side + px], v);
      }
    }
  }
}

function classTemplate(rng: Rng, side: number): Float32Array {
  const img = new Float32Array(side * side);
  const margin = side * 0.2;
  const span = side - 2 * margin;
  const strokes = 3;
  let x = margin + rng.next() * span;
  let y = margin + rng.next() * span;
  for (let s = 0; s < strokes; s++) {
    const nx = margin + rng.next() * span;
    const ny = margin + rng.next() * span;
    drawStroke(img, side, x, y, nx, ny);
    x = nx;
    y = ny;
  }
  return img;
}

/** Digits-like images [count, size, size, 1] in [0, 1] with labels 0..classes-1 (seeded). */
export function syntheticDigits(options: SyntheticDigitsOptions): DataSource {
  const { count, seed = 1, classes = 10, size = 28, noise = 0.15 } = options;
  // Templates depend only on the seed's class structure, not on count, so train and test sets agree.
  const templateRng = createRng(0x5eed ^ classes);
  const templates = Array.from({ length: classes }, () => classTemplate(templateRng, size));
  const rng = createRng(seed);
  const pixels = size * size;
  const x = new Float32Array(count * pixels);
  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = rng.int(classes);
    y[i] = label;
    const shiftX = rng.int(5) - 2;
    const shiftY = rng.int(5) - 2;
    const gain = 0.7 + 0.3 * rng.next();
    const t = templates[label];
    const base = i * pixels;
    for (let r = 0; r < size; r++) {
      for (let c = 0; c < size; c++) {
        const sr = r - shiftY;
        const sc = c - shiftX;
        const v = sr >= 0 && sc >= 0 && sr < size && sc < size ? t[sr * size + sc] * gain : 0;
        x[base + r * size + c] = Math.min(1, Math.max(0, v + noise * rng.normal()));
      }
    }
  }
  return arraySource(`synthetic-digits(seed=${seed})`, x, y, [size, size, 1]);
}

export interface SyntheticTabularOptions {
  count: number;
  features?: number;
  classes?: number;
  seed?: number;
  /** Cluster spread relative to the distance between class means. */
  spread?: number;
}

/** Tabular data: one Gaussian cluster per class in `features` dimensions (seeded). */
export function syntheticTabular(options: SyntheticTabularOptions): DataSource {
  const { count, features = 8, classes = 3, seed = 1, spread = 1 } = options;
  const meanRng = createRng(0x7ab1e ^ (features * 31 + classes));
  const means = Array.from({ length: classes }, () => Array.from({ length: features }, () => meanRng.normal() * 2));
  const rng = createRng(seed);
  const x = new Float32Array(count * features);
  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = rng.int(classes);
    y[i] = label;
    for (let f = 0; f < features; f++) x[i * features + f] = means[label][f] + spread * rng.normal();
  }
  return arraySource(`synthetic-tabular(seed=${seed})`, x, y, [features]);
}
