/**
 * Rows of `trellis stat` and of the dashboard's service and route tables: which series belong
 * to which row, and the row's golden metrics over a window.
 */
import type { GoldenMetrics } from '../../api/stats.js';
import { goldenMetrics } from './golden-metrics.js';
import type { Labels } from './parse.js';
import type { TargetScrape } from './scrape.js';
import { aggregate, windowDelta } from './window.js';

export const STAT_KINDS = ['services', 'workloads', 'routes'] as const;
export type StatKind = (typeof STAT_KINDS)[number];

export interface StatRow extends GoldenMetrics {
  namespace: string;
  /** Service, workload, or route (`<ns>/<name>`) by kind. */
  name: string;
  /** Destination service (`<ns>/<service>`) of a route row; absent otherwise. */
  service?: string;
}

/** Separates the parts of a row key (never part of a Kubernetes-style name). */
export const KEY_SEP = '\u0000';

/**
 * The row key of a series for `kind`, or null when the series is not part of that view:
 * services and workloads as served (inbound side), routes as sent (outbound, routed only).
 */
export function statRowKey(kind: StatKind): (labels: Labels, target: Labels) => string | null {
  switch (kind) {
    case 'services':
      return (l) => (l.direction === 'inbound' ? (l.dst_namespace ?? '') + KEY_SEP + (l.dst_service ?? '') : null);
    case 'workloads':
      return (l, t) => (l.direction === 'inbound' ? (t.trellis_namespace ?? '') + KEY_SEP + (t.trellis_workload ?? '') : null);
    case 'routes':
      return (l) => {
        if (l.direction !== 'outbound' || (l.route ?? '') === '') return null;
        const route = l.route!;
        const slash = route.indexOf('/');
        return [slash === -1 ? '' : route.slice(0, slash), route, `${l.dst_namespace ?? ''}/${l.dst_service ?? ''}`].join(KEY_SEP);
      };
  }
}

/** Rows of `kind` from the increase over a window of `seconds` (windowDelta), sorted by namespace, name, service. */
export function statRowsOfDelta(kind: StatKind, delta: readonly TargetScrape[], seconds: number): StatRow[] {
  const rows: StatRow[] = [];
  for (const [key, t] of aggregate(delta, statRowKey(kind))) {
    const [namespace = '', name = '', service = ''] = key.split(KEY_SEP);
    const row: StatRow = { namespace, name, ...goldenMetrics(t, seconds) };
    if (kind === 'routes') row.service = service;
    rows.push(row);
  }
  const sortKey = (r: StatRow): string => r.namespace + KEY_SEP + r.name + KEY_SEP + (r.service ?? '');
  return rows.sort((a, b) => sortKey(a).localeCompare(sortKey(b)));
}

/** Rows of `kind` from two scrapes `seconds` apart. */
export function statRows(kind: StatKind, before: readonly TargetScrape[], after: readonly TargetScrape[], seconds: number): StatRow[] {
  return statRowsOfDelta(kind, windowDelta(before, after), seconds);
}
