/**
 * CPU time of the calling thread, for the parallel step's phase profile. Node has no per-thread
 * CPU clock (process.cpuUsage sums every thread), so this reads Linux's /proc/thread-self/schedstat
 * (nanoseconds this thread ran). The kernel updates that figure at scheduler ticks, so a single
 * short phase may read a few milliseconds off; sums over many steps are what to quote.
 */
import fs from "node:fs";

let available: boolean | undefined;

/** Milliseconds of CPU this thread has used, or undefined where the kernel does not say (not Linux). */
export function threadCpuMs(): number | undefined {
  if (available === false) return undefined;
  try {
    const text = fs.readFileSync("/proc/thread-self/schedstat", "latin1");
    available = true;
    return Number(text.slice(0, text.indexOf(" "))) / 1e6;
  } catch {
    available = false;
    return undefined;
  }
}

/** Per-phase sums of one thread: CPU and wall milliseconds. */
export type PhaseTimes = Record<string, { cpuMs: number; wallMs: number }>;

/** Times consecutive phases of one thread: each `mark(name)` charges the time since the previous mark to `name`. */
export class PhaseClock {
  private cpu = threadCpuMs();
  private wall = performance.now();
  constructor(private readonly into: PhaseTimes) {}

  /** Starts timing afresh (the time since the last mark is charged to nothing). */
  reset(): void {
    this.cpu = threadCpuMs();
    this.wall = performance.now();
  }

  mark(name: string): void {
    const cpu = threadCpuMs();
    const wall = performance.now();
    const phase = (this.into[name] ??= { cpuMs: 0, wallMs: 0 });
    phase.cpuMs += cpu !== undefined && this.cpu !== undefined ? cpu - this.cpu : 0;
    phase.wallMs += wall - this.wall;
    this.cpu = cpu;
    this.wall = wall;
  }
}

/** Adds `from`'s sums into `into`, under `prefix` + each phase's name. */
export function addPhases(into: PhaseTimes, from: PhaseTimes, prefix = ""): void {
  for (const [name, t] of Object.entries(from)) {
    const phase = (into[prefix + name] ??= { cpuMs: 0, wallMs: 0 });
    phase.cpuMs += t.cpuMs;
    phase.wallMs += t.wallMs;
  }
}
