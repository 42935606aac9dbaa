/** Numbers with units, and the health colour of a success rate, used by every view. */
import type { GoldenMetrics } from '../../../src/api/stats.js';

export type Health = 'ok' | 'warn' | 'bad' | 'idle';

/** Below 99 % is amber, below 95 % red: a failing service must stand out at a glance. */
export const WARN_BELOW = 0.99;
export const BAD_BELOW = 0.95;

export function health(successRate: number | null | undefined): Health {
  if (successRate === null || successRate === undefined) return 'idle';
  if (successRate < BAD_BELOW) return 'bad';
  if (successRate < WARN_BELOW) return 'warn';
  return 'ok';
}

export function metricsHealth(m: GoldenMetrics | undefined): Health {
  return m === undefined || m.requests === 0 ? 'idle' : health(m.successRate);
}

export function formatPercent(rate: number | null | undefined): string {
  if (rate === null || rate === undefined) return '–';
  const pct = rate * 100;
  if (pct === 100) return '100%';
  // Rounded down, never up: a service that failed even one request must not read "100.00%".
  const digits = pct >= 99 ? 2 : 1;
  const scale = 10 ** digits;
  return `${(Math.floor(pct * scale + 1e-9) / scale).toFixed(digits)}%`;
}

export function formatRps(rps: number | null | undefined): string {
  if (rps === null || rps === undefined) return '–';
  if (rps === 0) return '0 rps';
  if (rps < 0.1) return `${rps.toFixed(3)} rps`;
  if (rps < 10) return `${rps.toFixed(2)} rps`;
  if (rps < 1000) return `${rps.toFixed(1)} rps`;
  return `${(rps / 1000).toFixed(1)}k rps`;
}

/** Latency given in seconds. */
export function formatSeconds(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '–';
  return formatMs(seconds * 1000);
}

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '–';
  if (ms === 0) return '0 ms';
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** "in 23 h 5 min", "expired 3 min ago". */
export function formatRelativeSeconds(seconds: number): string {
  const abs = Math.abs(seconds);
  let text: string;
  if (abs < 60) text = `${Math.round(abs)} s`;
  else if (abs < 3600) text = `${Math.floor(abs / 60)} min`;
  else if (abs < 86400) text = `${Math.floor(abs / 3600)} h ${Math.floor((abs % 3600) / 60)} min`;
  else text = `${Math.floor(abs / 86400)} d ${Math.floor((abs % 86400) / 3600)} h`;
  return seconds >= 0 ? `in ${text}` : `expired ${text} ago`;
}

export function formatClock(epochMs: number): string {
  const d = new Date(epochMs);
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** `<ns>/<name>` without the namespace when it is the only one in view. */
export function shortName(id: string): string {
  const slash = id.indexOf('/');
  return slash >= 0 ? id.slice(slash + 1) : id;
}
