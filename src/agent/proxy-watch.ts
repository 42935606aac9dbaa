import type { Clock } from '../util/clock.js';
import { proxyReadiness, type ProxyReadiness } from './probe.js';

/** A running proxy's /ready is probed this often. */
export const PROXY_PROBE_PERIOD_MS = 1000;
/** Consecutive failed probes (no answer, or a 503 other than `draining`) before a proxy is recycled. */
export const PROXY_FAILURE_THRESHOLD = 3;
const PROXY_PROBE_TIMEOUT_MS = 1000;

export interface ProxyWatchOptions<P> {
  clock: Clock;
  periodMs: number;
  /** Aborted when the replica stops: the loop ends. */
  signal: AbortSignal;
  readyUrl: string;
  /** The proxy to probe now: one that passed its start and was not recycled since; null: none. */
  serving(): P | null;
  /** Takes `proxy` out of service; resolves once it is gone (the replica restarts it). */
  recycle(proxy: P, why: ProxyReadiness): Promise<void>;
  /** Probe (tests replace it). Default: GET readyUrl. */
  probe?: (url: string, timeoutMs: number) => Promise<ProxyReadiness>;
}

/**
 * Watches one replica's proxy after its start. A proxy that answers `draining` (someone sent
 * POST /drain) is recycled at once: it stopped serving and will not come back by itself. One
 * that stops answering, or answers 503 for another reason (its certificate expired and could
 * not be renewed), is recycled after PROXY_FAILURE_THRESHOLD probes in a row.
 */
export async function watchProxy<P>(o: ProxyWatchOptions<P>): Promise<void> {
  const probe = o.probe ?? proxyReadiness;
  let failures = 0;
  let watched: P | null = null;
  while (!o.signal.aborted) {
    await o.clock.sleep(o.periodMs, o.signal);
    const proxy = o.serving();
    if (o.signal.aborted || proxy === null) continue;
    if (proxy !== watched) {
      watched = proxy;
      failures = 0;
    }
    const r = await probe(o.readyUrl, PROXY_PROBE_TIMEOUT_MS);
    if (o.signal.aborted || o.serving() !== proxy) continue;
    if (r.state === 'ready') {
      failures = 0;
      continue;
    }
    if (r.state !== 'draining' && ++failures < PROXY_FAILURE_THRESHOLD) continue;
    await o.recycle(proxy, r);
  }
}
