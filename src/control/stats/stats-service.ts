import type { PrometheusTargetGroup, ProxyView, WorkloadView } from '../../api/registry.js';
import type { SeriesView, StatsView, WorkloadStatusView } from '../../api/stats.js';
import { HttpError } from '../api/http-error.js';

/** What the stats API reads from the control plane. */
export interface StatsSources {
  targets(): PrometheusTargetGroup[];
  workloads(): WorkloadView[];
  proxies(): ProxyView[];
  trustDomain: string;
  /** Scrape interval while watched. Default 2 s. */
  intervalMs?: number;
  clock?: () => number;
}

/** The dashboard's golden metrics (src/api/stats.ts): scrapes proxies while watched, answers from memory. */
export class StatsService {
  constructor(private readonly sources: StatsSources) {}

  /** GET /api/v1/stats?window= ; throws HttpError 400 on a bad window. */
  view(_window: string | null): StatsView {
    throw new HttpError(501, 'TRELLIS_E_NOT_IMPLEMENTED', 'stats are not built yet');
  }

  /** GET /api/v1/stats/series?kind=&namespace=&name=&window=&step= */
  series(_params: URLSearchParams): SeriesView {
    throw new HttpError(501, 'TRELLIS_E_NOT_IMPLEMENTED', 'stats are not built yet');
  }

  /** GET /api/v1/workloads/status */
  workloadStatus(): WorkloadStatusView[] {
    void this.sources;
    return [];
  }

  /** Stops scraping (control plane shutdown). */
  close(): void {}
}
