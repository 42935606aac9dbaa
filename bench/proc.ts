/**
 * Process accounting from /proc (Linux): resident memory and CPU time of one pid.
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let clkTck: number | null = null;
/** Clock ticks per second for /proc/<pid>/stat times (getconf CLK_TCK, nearly always 100). */
export function clockTicks(): number {
  if (clkTck === null) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** VmRSS of a process in bytes, or null when it is gone. */
export function rssBytes(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m === null ? null : Number(m[1]) * 1024;
  } catch {
    return null;
  }
}

/** utime+stime of a process in CPU-seconds (its own threads, not its children), or null. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return (utime + stime) / clockTicks();
  } catch {
    return null;
  }
}

/** Samples the RSS of some pids every `everyMs` until stopped; keeps every sample. */
export class RssSampler {
  private timer: NodeJS.Timeout | null = null;
  readonly samples = new Map<number, number[]>();

  constructor(
    private readonly pids: number[],
    private readonly everyMs = 500,
  ) {
    for (const p of pids) this.samples.set(p, []);
  }

  start(): void {
    this.timer = setInterval(() => this.sample(), this.everyMs);
  }

  sample(): void {
    for (const p of this.pids) {
      const v = rssBytes(p);
      if (v !== null) this.samples.get(p)!.push(v);
    }
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.sample();
  }

  /** Peak RSS seen for a pid while sampling, bytes. */
  peak(pid: number): number | null {
    const s = this.samples.get(pid) ?? [];
    return s.length === 0 ? null : Math.max(...s);
  }
}

/** Busy and total jiffies of the whole machine (first line of /proc/stat). */
function machineJiffies(): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest times are already in user)
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** Fraction (0..1) of all CPUs that were busy over the next `ms`. */
export async function machineBusyFraction(ms: number): Promise<number | null> {
  const a = machineJiffies();
  await new Promise((r) => setTimeout(r, ms));
  const b = machineJiffies();
  if (a === null || b === null || b.total === a.total) return null;
  return (b.busy - a.busy) / (b.total - a.total);
}

/**
 * Waits (bounded) until the machine is quiet: less than `threshold` of all CPUs busy over one
 * second. Other work on a shared machine (builds, tests) would otherwise be measured as proxy
 * cost. Returns the last busy fraction seen and how long it waited.
 */
export async function waitForQuiet(threshold: number, maxWaitMs: number): Promise<{ busy: number | null; waitedMs: number }> {
  const start = Date.now();
  let busy: number | null = null;
  do {
    busy = await machineBusyFraction(1000);
    if (busy === null || busy < threshold) break;
  } while (Date.now() - start < maxWaitMs);
  return { busy, waitedMs: Date.now() - start };
}

/** CPU-seconds all CPUs of the machine have been busy since boot (for differences). */
export function machineCpuSeconds(): number | null {
  const j = machineJiffies();
  return j === null ? null : j.busy / clockTicks();
}
