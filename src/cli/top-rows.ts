import type { TapEvent } from '../api/tap.js';
import { isFailure, tapStatusText } from '../telemetry/tap-status.js';
import { shortIdentity } from './tap-client.js';

/** One row of `trellis top`: requests of one (source, destination, method, path). */
export interface TopRow {
  /** Inbound: the caller's identity (`namespace/service-account`); outbound: the proxy's `namespace/workload`. */
  source: string;
  /** `namespace/service`. */
  destination: string;
  method: string;
  /** Without the query string. */
  path: string;
  count: number;
  successes: number;
  /** successes / count. */
  successRate: number;
  bestMs: number;
  worstMs: number;
  lastMs: number;
  /** The last request's status as tap prints it (`200`, `200 grpc=UNAVAILABLE(14)`). */
  lastStatus: string;
  /** The last failed request's status, null while none failed: what the failures are. */
  lastFailure: string | null;
}

/** Rows beyond this go to one `(other)` path per source and destination: a path scan must not grow the table without bound. */
export const MAX_TOP_ROWS = 5000;

/** Success as `trellis stat` counts it: a response below 500, and for gRPC also grpc-status OK. */
export function isSuccess(e: TapEvent): boolean {
  return !isFailure(e.status, e.grpcStatus);
}

/** Aggregates tap events into top rows (pure: no clock, no I/O). */
export class TopTable {
  private readonly byKey = new Map<string, TopRow>();

  add(e: TapEvent): void {
    const source = e.direction === 'inbound' ? shortIdentity(e.src.identity) : `${e.proxy.namespace}/${e.proxy.workload}`;
    const q = e.path.indexOf('?');
    let path = q >= 0 ? e.path.slice(0, q) : e.path;
    let key = `${source}\n${e.dst.service}\n${e.method}\n${path}`;
    let row = this.byKey.get(key);
    if (row === undefined && this.byKey.size >= MAX_TOP_ROWS) {
      path = '(other)';
      key = `${source}\n${e.dst.service}\n\n${path}`;
      row = this.byKey.get(key);
    }
    if (row === undefined) {
      row = {
        source,
        destination: e.dst.service,
        method: path === '(other)' ? '' : e.method,
        path,
        count: 0,
        successes: 0,
        successRate: 0,
        bestMs: e.durationMs,
        worstMs: e.durationMs,
        lastMs: e.durationMs,
        lastStatus: '',
        lastFailure: null,
      };
      this.byKey.set(key, row);
    }
    row.count++;
    row.lastStatus = tapStatusText(e.status, e.grpcStatus);
    if (isSuccess(e)) row.successes++;
    else row.lastFailure = row.lastStatus;
    row.successRate = row.successes / row.count;
    if (e.durationMs < row.bestMs) row.bestMs = e.durationMs;
    if (e.durationMs > row.worstMs) row.worstMs = e.durationMs;
    row.lastMs = e.durationMs;
  }

  /** Busiest first; ties in a stable order (source, destination, method, path). */
  rows(): TopRow[] {
    return [...this.byKey.values()]
      .map((r) => ({ ...r }))
      .sort((a, b) => b.count - a.count || cmp(a.source, b.source) || cmp(a.destination, b.destination) || cmp(a.method, b.method) || cmp(a.path, b.path));
  }
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
