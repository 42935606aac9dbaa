import type { Dispatcher } from 'undici';
import type { PrometheusTargetGroup, ProxyView, ServiceView, WorkloadView } from '../../api/registry.js';
import type { SeriesView, StatsView, WorkloadStatusView } from '../../api/stats.js';
import { ScrapeRing, storedDelta } from './scrape-ring.js';
import { selectorServices } from './selector-services.js';
import { seriesPoints, type SeriesSelector } from './series.js';
import { serviceGraph } from './service-graph.js';
import { DEFAULT_VIEW_WINDOW_MS, MAX_WINDOW_MS, seriesParams, windowParam } from './stats-params.js';
import { WatchedScraper } from './watched-scraper.js';
import { workloadStatusRows } from './workload-status.js';

/** Scrape interval while watched. */
export const DEFAULT_STATS_INTERVAL_MS = 2000;
/** How long one read of the API keeps the scraper going. */
export const DEFAULT_WATCH_MS = 60_000;

/** What the stats API reads from the control plane. */
export interface StatsSources {
  targets(): PrometheusTargetGroup[];
  workloads(): WorkloadView[];
  /** The registry's services: those declared by label selector get nodes and series as served by their workloads. Default: none. */
  services?(): ServiceView[];
  proxies(): ProxyView[];
  trustDomain: string;
  /** Scrape interval while watched. Default 2 s. */
  intervalMs?: number;
  /** Scraping stops this long after the last read. Default 60 s. */
  watchMs?: number;
  clock?: () => number;
  /** A proxy that could not be scraped (left out of that scrape). Default: ignored. */
  onScrapeError?: (target: string, err: Error) => void;
  /** The client for an https admin URL (a proxy's remote admin listener on another host). */
  dispatcherFor?: (url: string) => Dispatcher | undefined;
}

/** The dashboard's golden metrics (src/api/stats.ts): scrapes proxies while watched, answers from memory. */
export class StatsService {
  readonly intervalMs: number;
  private readonly clock: () => number;
  private readonly ring = new ScrapeRing(MAX_WINDOW_MS);
  private readonly scraper: WatchedScraper;

  constructor(private readonly sources: StatsSources) {
    this.intervalMs = sources.intervalMs ?? DEFAULT_STATS_INTERVAL_MS;
    if (!Number.isFinite(this.intervalMs) || this.intervalMs < 1) throw new RangeError(`stats interval must be a positive number of ms, got ${this.intervalMs}`);
    this.clock = sources.clock ?? Date.now;
    this.scraper = new WatchedScraper({
      targets: () => sources.targets(),
      ring: this.ring,
      intervalMs: this.intervalMs,
      watchMs: sources.watchMs ?? DEFAULT_WATCH_MS,
      clock: this.clock,
      onError: sources.onScrapeError ?? (() => {}),
      ...(sources.dispatcherFor !== undefined ? { dispatcherFor: sources.dispatcherFor } : {}),
    });
  }

  /** True while scraping (someone read the API within the watch time). */
  get scraping(): boolean {
    return this.scraper.scraping;
  }

  /** Resolves once the scrape in flight, if any, is stored. */
  settled(): Promise<void> {
    return this.scraper.settled();
  }

  /** GET /api/v1/stats?window= ; throws HttpError 400 on a bad window. */
  view(window: string | null): StatsView {
    const windowMs = windowParam(window, DEFAULT_VIEW_WINDOW_MS);
    this.scraper.watch();
    const newest = this.ring.newest();
    const base = newest === undefined ? undefined : this.ring.baseline(newest, windowMs);
    const intervalSeconds = this.intervalMs / 1000;
    if (newest === undefined || base === undefined || base === newest) {
      return { at: newest?.at ?? 0, windowSeconds: windowMs / 1000, intervalSeconds, warmingUp: true, nodes: [], edges: [], services: [], routes: [] };
    }
    const seconds = (newest.at - base.at) / 1000;
    const graph = serviceGraph(storedDelta(base, newest), seconds, this.sources.workloads(), this.sources.trustDomain, this.sources.services?.() ?? []);
    return { at: newest.at, windowSeconds: seconds, intervalSeconds, warmingUp: false, ...graph };
  }

  /** GET /api/v1/stats/series?kind=&namespace=&name=&window=&step= ; throws HttpError 400 on bad input. */
  series(params: URLSearchParams): SeriesView {
    const p = seriesParams(params, this.intervalMs);
    this.scraper.watch();
    const selector: SeriesSelector = { kind: p.kind, namespace: p.namespace, name: p.name };
    if (p.kind === 'service') {
      const sel = selectorServices(this.sources.services?.() ?? [], this.sources.workloads()).find((s) => s.namespace === p.namespace && s.name === p.name);
      if (sel !== undefined) selector.servedBy = sel.workloads;
    }
    return { kind: p.kind, namespace: p.namespace, name: p.name, stepSeconds: p.stepMs / 1000, points: seriesPoints(this.ring, selector, p.windowMs, p.stepMs, this.intervalMs) };
  }

  /** GET /api/v1/workloads/status */
  workloadStatus(): WorkloadStatusView[] {
    this.scraper.watch();
    return workloadStatusRows(this.sources.workloads(), this.sources.proxies(), this.clock());
  }

  /** Stops scraping for good (control plane shutdown). */
  close(): void {
    this.scraper.close();
  }
}
