/**
 * Reading the proxies' golden metrics: every target the control plane's Prometheus service
 * discovery lists, its admin `/metrics`, kept to the two request series (counts and buckets)
 * and the two opaque TCP counters (connections opened, bytes), a few series per TCP listener.
 * Used by `trellis stat`/`trellis edges` and by the control plane's stats service.
 */
import { request, type Dispatcher } from 'undici';
import type { PrometheusTargetGroup } from '../../api/registry.js';
import { BUCKETS_METRIC, parsePrometheusText, REQUESTS_METRIC, TCP_BYTES_METRIC, TCP_CONNECTIONS_METRIC, type Labels, type Sample } from './parse.js';

/** The series golden metrics are made of; everything else a proxy exposes is dropped on reading. */
const KEPT_METRICS: ReadonlySet<string> = new Set([REQUESTS_METRIC, BUCKETS_METRIC, TCP_CONNECTIONS_METRIC, TCP_BYTES_METRIC]);

/** One proxy's request counters, histogram buckets and TCP counters, as read at one moment. */
export interface TargetScrape {
  /** `host:port` of the admin listener. */
  target: string;
  /** Service-discovery labels (trellis_workload, trellis_namespace, ...). */
  targetLabels: Labels;
  samples: Sample[];
}

/** Where to read a target instead of its own address (the control plane's relay), with what credentials. */
export interface ScrapeRequest {
  url: string;
  headers?: Record<string, string>;
  dispatcher?: Dispatcher;
}

/** Per-target limit on waiting for headers and for the body. */
export const DEFAULT_SCRAPE_TIMEOUT_MS = 5_000;

/**
 * Fetches /metrics of every target; a failing target goes to `onError` and is left out. A group
 * labelled `__scheme__: https` (a proxy's remote admin listener) is fetched over https through
 * `dispatcherFor` (the control plane's mTLS client), as Prometheus reads that label.
 */
export async function scrapeTargets(
  groups: readonly PrometheusTargetGroup[],
  onError: (target: string, err: Error) => void,
  timeoutMs = DEFAULT_SCRAPE_TIMEOUT_MS,
  dispatcherFor: (url: string) => Dispatcher | undefined = () => undefined,
  via?: (target: string, labels: Labels) => ScrapeRequest | undefined,
): Promise<TargetScrape[]> {
  const jobs = groups.flatMap((g) => g.targets.map((target) => ({ target, targetLabels: g.labels })));
  const results = await Promise.all(
    jobs.map(async ({ target, targetLabels }): Promise<TargetScrape | null> => {
      try {
        const relayed = via?.(target, targetLabels);
        const url = relayed?.url ?? `${targetLabels.__scheme__ === 'https' ? 'https' : 'http'}://${target}/metrics`;
        const dispatcher = relayed !== undefined ? relayed.dispatcher : dispatcherFor(url);
        const res = await request(url, { headers: relayed?.headers ?? {}, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, ...(dispatcher !== undefined ? { dispatcher } : {}) });
        const text = await res.body.text();
        if (res.statusCode !== 200) throw new Error(`answered ${res.statusCode}`);
        const samples = parsePrometheusText(text).filter((s) => KEPT_METRICS.has(s.name));
        return { target, targetLabels, samples };
      } catch (err) {
        onError(target, err as Error);
        return null;
      }
    }),
  );
  return results.filter((r): r is TargetScrape => r !== null);
}
