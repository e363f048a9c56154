/** A source of uniform numbers in [0, 1). */
export type UniformRandom = () => number;

/**
 * Deterministic generator (mulberry32) for tests and reproducible runs. Not for real privacy:
 * noise that an attacker can predict protects nothing.
 */
export function seededRandom(seed: number): UniformRandom {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform numbers from the platform's cryptographic generator (the default for real noise). */
export function secureRandom(): UniformRandom {
  const buf = new Uint32Array(4096);
  let i = buf.length;
  return () => {
    if (i + 1 >= buf.length) {
      globalThis.crypto.getRandomValues(buf);
      i = 0;
    }
    // 53 random bits from two 32-bit words.
    const hi = buf[i++] >>> 5;
    const lo = buf[i++] >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  };
}

/**
 * Adds N(0, stddev²) to every element (Box–Muller). Returns new arrays. For DP-FedAvg,
 * stddev = noiseMultiplier × clipNorm.
 */
export function addGaussianNoise(arrays: readonly Float32Array[], stddev: number, random: UniformRandom = secureRandom()): Float32Array[] {
  if (!(stddev >= 0) || !Number.isFinite(stddev)) throw new RangeError(`stddev must be a non-negative finite number, got ${stddev}`);
  let spare: number | undefined;
  const gaussian = () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = random();
    const v = random();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
  return arrays.map((a) => {
    const out = new Float32Array(a.length);
    for (let i = 0; i < a.length; i++) out[i] = a[i] + stddev * gaussian();
    return out;
  });
}
