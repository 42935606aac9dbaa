/**
 * Closed-loop full-load run with wrk (Debian package `wrk`), parsed from its text output.
 */
import { startChild, stopChild } from './children.js';
import { cpuSeconds } from './proc.js';

export interface WrkResult {
  requests: number;
  rps: number;
  p50Ms: number;
  p75Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  /** CPU-seconds wrk itself used (sampled every 200 ms, so up to 0.2 s short). */
  wrkCpuSeconds: number | null;
  raw: string;
}

function toMs(v: string, unit: string): number {
  const n = Number(v);
  switch (unit) {
    case 'us':
      return n / 1000;
    case 'ms':
      return n;
    case 's':
      return n * 1000;
    case 'm':
      return n * 60000;
    case 'h':
      return n * 3600000;
    default:
      return NaN;
  }
}

export function parseWrk(raw: string): WrkResult {
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(raw);
    return m === null ? NaN : toMs(m[1]!, m[2]!);
  };
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(raw);
  const reqs = /(\d+) requests in/.exec(raw);
  const max = /^\s*Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m|h)/m.exec(raw);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(raw);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(raw);
  return {
    requests: reqs === null ? 0 : Number(reqs[1]),
    rps: rps === null ? NaN : Number(rps[1]),
    p50Ms: pct('50'),
    p75Ms: pct('75'),
    p90Ms: pct('90'),
    p99Ms: pct('99'),
    maxMs: max === null ? NaN : toMs(max[1]!, max[2]!),
    non2xx: non2xx === null ? 0 : Number(non2xx[1]),
    wrkCpuSeconds: null,
    socketErrors: se === null ? { connect: 0, read: 0, write: 0, timeout: 0 } : { connect: Number(se[1]), read: Number(se[2]), write: Number(se[3]), timeout: Number(se[4]) },
    raw,
  };
}

export async function runWrk(url: string, opts: { threads: number; connections: number; durationS: number; timeoutS?: number }): Promise<WrkResult> {
  const args = ['-t', String(opts.threads), '-c', String(opts.connections), '-d', `${opts.durationS}s`, '--timeout', `${opts.timeoutS ?? 5}s`, '--latency', url];
  const child = startChild('wrk', 'wrk', args);
  let wrkCpu: number | null = null;
  const cpuTimer = setInterval(() => {
    const v = child.pid === undefined ? null : cpuSeconds(child.pid);
    if (v !== null) wrkCpu = v;
  }, 200);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const code = await new Promise<number | null>((resolve, reject) => {
    // Bounded: wrk ends by itself after -d; kill it if it overruns by 15 s.
    const guard = setTimeout(() => reject(new Error('wrk overran its duration')), (opts.durationS + 15) * 1000);
    child.on('exit', (c) => {
      clearTimeout(guard);
      resolve(c);
    });
    child.on('error', (e) => {
      clearTimeout(guard);
      reject(e);
    });
  }).finally(() => {
    clearInterval(cpuTimer);
    return stopChild(child, 1000);
  });
  if (code !== 0) throw new Error(`wrk exited with code ${code}: ${err || out}`);
  return { ...parseWrk(out), wrkCpuSeconds: wrkCpu };
}
