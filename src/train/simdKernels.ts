/**
 * Two loops that JavaScript runs slowly and WebAssembly SIMD runs fast, as a tiny wasm module
 * assembled here byte by byte (no toolchain, no binary in the repository):
 *
 * - `sgd2`, the parallel step's reduce-and-update of a slice for two threads:
 *   w ← w + step·(g₀·s₀ + g₁·s₁), four floats at a time. On this 2-core machine, half of the
 *   CIFAR-sized CNN's 1.1M weights took 4.5 ms a step in the JavaScript loop and 0.23 ms here.
 * - `transpose`, xᵀ of a row-major matrix whose sides are multiples of 4, in 4×4 blocks
 *   transposed in registers: the large dense kernel is transposed every step by every thread
 *   (see sequentialStep.ts).
 *
 * A module imports one memory and works on byte addresses in it: the parallel step's shared
 * memory (pool.ts), or the tfjs wasm backend's own heap, so tensors are read and written in place.
 * Arithmetic is float32 as wasm defines it (each product and sum rounded to float32).
 */

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;

function u32(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return out;
}

function s32(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(byte & 0x40)) || (n === -1 && byte & 0x40)) return [...out, byte];
    out.push(byte | 0x80);
  }
}

const vec = (items: number[][]): number[] => [...u32(items.length), ...items.flat()];
const name = (s: string): number[] => vec([...new TextEncoder().encode(s)].map((b) => [b]));
const section = (id: number, body: number[]): number[] => [id, ...u32(body.length), ...body];

// Instructions (WebAssembly core 2.0 binary encoding).
const get = (i: number): number[] => [0x20, ...u32(i)];
const set = (i: number): number[] => [0x21, ...u32(i)];
const i32 = (n: number): number[] => [0x41, ...s32(n)];
const add = [0x6a];
const mul = [0x6c];
const ltU = [0x49];
const geU = [0x4f];
const block = [0x02, 0x40];
const loop = [0x03, 0x40];
const end = [0x0b];
const brIf = (depth: number): number[] => [0x0d, ...u32(depth)];
const simd = (op: number): number[] => [0xfd, ...u32(op)];
/** v128.load / v128.store with an alignment hint of 4 bytes (float arrays) and no offset. */
const load = [...simd(0x00), 2, 0];
const store = [...simd(0x0b), 2, 0];
const splat = simd(0x13);
const fadd = simd(0xe4);
const fmul = simd(0xe6);
/** i8x16.shuffle taking 32-bit lanes: 0–3 from the first operand, 4–7 from the second. */
const lanes = (...l: number[]): number[] => [...simd(0x0d), ...l.flatMap((k) => [4 * k, 4 * k + 1, 4 * k + 2, 4 * k + 3])];

interface Func {
  name: string;
  params: number[];
  locals: [count: number, type: number][];
  body: number[];
}

/** sgd2(w, g0, g1, bytes, s0, s1, step): the `bytes` (a multiple of 16) from each address on. */
function sgd2(): Func {
  const [w, g0, g1, bytes, s0, s1, step, stop, vs0, vs1, vstep] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const advance = (p: number): number[] => [...get(p), ...i32(16), ...add, ...set(p)];
  return {
    name: "sgd2",
    params: [I32, I32, I32, I32, F32, F32, F32],
    locals: [
      [1, I32],
      [3, V128],
    ],
    // prettier-ignore
    body: [
      ...get(s0), ...splat, ...set(vs0),
      ...get(s1), ...splat, ...set(vs1),
      ...get(step), ...splat, ...set(vstep),
      ...get(w), ...get(bytes), ...add, ...set(stop),
      ...block,
      ...get(w), ...get(stop), ...geU, ...brIf(0),
      ...loop,
      ...get(w),
      ...get(w), ...load,
      ...get(g0), ...load, ...get(vs0), ...fmul,
      ...get(g1), ...load, ...get(vs1), ...fmul,
      ...fadd, ...get(vstep), ...fmul,
      ...fadd, ...store,
      ...advance(w), ...advance(g0), ...advance(g1),
      ...get(w), ...get(stop), ...ltU, ...brIf(0),
      ...end,
      ...end,
    ],
  };
}

/** transpose(src, dst, rows, cols): dst (cols × rows) ← srcᵀ (rows × cols); rows and cols multiples of 4, ≥ 4. */
function transpose(): Func {
  const [src, dst, rows, cols, r, c, p, q, rs, rs2, rs3, cs, cs2, cs3, v0, v1, v2, v3, t0, t1] = Array.from({ length: 20 }, (_, i) => i);
  const at = (base: number, offset?: number): number[] => (offset === undefined ? get(base) : [...get(base), ...get(offset), ...add]);
  return {
    name: "transpose",
    params: [I32, I32, I32, I32],
    locals: [
      [10, I32],
      [6, V128],
    ],
    // prettier-ignore
    body: [
      // Row stride of the source and of the destination, in bytes, and their multiples.
      ...get(cols), ...i32(4), ...mul, ...set(rs),
      ...get(rs), ...get(rs), ...add, ...set(rs2),
      ...get(rs2), ...get(rs), ...add, ...set(rs3),
      ...get(rows), ...i32(4), ...mul, ...set(cs),
      ...get(cs), ...get(cs), ...add, ...set(cs2),
      ...get(cs2), ...get(cs), ...add, ...set(cs3),
      ...i32(0), ...set(r),
      ...loop,
      // p: source row r, column 0; q: destination row 0, column r.
      ...get(src), ...get(r), ...get(rs), ...mul, ...add, ...set(p),
      ...get(dst), ...get(r), ...i32(4), ...mul, ...add, ...set(q),
      ...i32(0), ...set(c),
      ...loop,
      ...at(p), ...load, ...set(v0),
      ...at(p, rs), ...load, ...set(v1),
      ...at(p, rs2), ...load, ...set(v2),
      ...at(p, rs3), ...load, ...set(v3),
      // Rows a, b, c, d → columns: (a0 b0 a1 b1), (a2 b2 a3 b3), (c0 d0 c1 d1), (c2 d2 c3 d3), then pairs of those.
      ...get(v0), ...get(v1), ...lanes(0, 4, 1, 5), ...set(t0),
      ...get(v0), ...get(v1), ...lanes(2, 6, 3, 7), ...set(t1),
      ...get(v2), ...get(v3), ...lanes(0, 4, 1, 5), ...set(v0),
      ...get(v2), ...get(v3), ...lanes(2, 6, 3, 7), ...set(v1),
      ...at(q), ...get(t0), ...get(v0), ...lanes(0, 1, 4, 5), ...store,
      ...at(q, cs), ...get(t0), ...get(v0), ...lanes(2, 3, 6, 7), ...store,
      ...at(q, cs2), ...get(t1), ...get(v1), ...lanes(0, 1, 4, 5), ...store,
      ...at(q, cs3), ...get(t1), ...get(v1), ...lanes(2, 3, 6, 7), ...store,
      ...get(p), ...i32(16), ...add, ...set(p),
      ...get(q), ...get(cs), ...i32(4), ...mul, ...add, ...set(q),
      ...get(c), ...i32(4), ...add, ...set(c),
      ...get(c), ...get(cols), ...ltU, ...brIf(0),
      ...end,
      ...get(r), ...i32(4), ...add, ...set(r),
      ...get(r), ...get(rows), ...ltU, ...brIf(0),
      ...end,
    ],
  };
}

/** The module's bytes, importing `env.memory` (shared or not: the import's type must match the memory). */
export function kernelModuleBytes(shared: boolean): Uint8Array {
  const funcs = [sgd2(), transpose()];
  const types = section(1, vec(funcs.map((f) => [0x60, ...vec(f.params.map((p) => [p])), ...vec([])])));
  // Limits: a shared memory must declare a maximum (65536 pages: any).
  const limits = shared ? [0x03, ...u32(0), ...u32(65536)] : [0x00, ...u32(0)];
  const imports = section(2, vec([[...name("env"), ...name("memory"), 0x02, ...limits]]));
  const functions = section(3, vec(funcs.map((_, i) => u32(i))));
  const exports = section(7, vec(funcs.map((f, i) => [...name(f.name), 0x00, ...u32(i)])));
  const code = section(
    10,
    vec(
      funcs.map((f) => {
        const body = [...vec(f.locals.map(([count, type]) => [...u32(count), type])), ...f.body, ...end];
        return [...u32(body.length), ...body];
      }),
    ),
  );
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...types, ...imports, ...functions, ...exports, ...code]);
}

export interface SimdKernels {
  readonly memory: WebAssembly.Memory;
  /** w ← w + step·(g0·s0 + g1·s1) over w[lo, lo + count) and the same indices of g0 and g1 (count a multiple of 4). */
  sgd2(w: Float32Array, g0: Float32Array, g1: Float32Array, lo: number, count: number, s0: number, s1: number, step: number): void;
  /** dst ← srcᵀ, src rows × cols, both multiples of 4. */
  transpose(src: Float32Array, dst: Float32Array, rows: number, cols: number): void;
}

interface RawKernels {
  sgd2(w: number, g0: number, g1: number, bytes: number, s0: number, s1: number, step: number): void;
  transpose(src: number, dst: number, rows: number, cols: number): void;
}

const modules = new Map<boolean, WebAssembly.Module | null>();
const instances = new WeakMap<WebAssembly.Memory, SimdKernels | null>();

function compiled(shared: boolean): WebAssembly.Module | null {
  if (!modules.has(shared)) {
    const bytes = kernelModuleBytes(shared);
    // A runtime without SIMD (or shared memories) rejects the module: callers then loop in JavaScript.
    modules.set(shared, WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null);
  }
  return modules.get(shared)!;
}

/**
 * The kernels bound to `memory` (one instance per memory), or undefined where this runtime cannot
 * run them. Every array handed to them must be a view of `memory.buffer` as it is at the call.
 */
export function simdKernels(memory: WebAssembly.Memory): SimdKernels | undefined {
  if (!instances.has(memory)) {
    const shared = typeof SharedArrayBuffer !== "undefined" && memory.buffer instanceof SharedArrayBuffer;
    const module = compiled(shared);
    const raw = module ? (new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as RawKernels) : undefined;
    const inMemory = (...arrays: Float32Array[]): void => {
      for (const a of arrays) if (a.buffer !== memory.buffer) throw new Error("a SIMD kernel's array is not in its memory");
    };
    instances.set(
      memory,
      raw
        ? {
            memory,
            sgd2(w, g0, g1, lo, count, s0, s1, step) {
              if (count % 4 !== 0 || lo < 0 || lo + count > Math.min(w.length, g0.length, g1.length)) throw new Error(`sgd2: bad range [${lo}, ${lo + count})`);
              inMemory(w, g0, g1);
              raw.sgd2(w.byteOffset + 4 * lo, g0.byteOffset + 4 * lo, g1.byteOffset + 4 * lo, 4 * count, s0, s1, step);
            },
            transpose(src, dst, rows, cols) {
              if (rows % 4 !== 0 || cols % 4 !== 0 || rows < 4 || cols < 4) throw new Error(`transpose: ${rows}×${cols} is not in 4×4 blocks`);
              if (src.length < rows * cols || dst.length < rows * cols) throw new Error("transpose: an array is shorter than rows × cols");
              inMemory(src, dst);
              raw.transpose(src.byteOffset, dst.byteOffset, rows, cols);
            },
          }
        : null,
    );
  }
  return instances.get(memory) ?? undefined;
}
