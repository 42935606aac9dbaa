/**
 * Who calls whom: one edge per caller and destination service, shared by `trellis edges` and
 * the dashboard's service graph.
 *
 * A caller whose own proxy was scraped (it has outbound series) is shown as it sent: its
 * outbound series give its edges, to the service it sent to (a routed request's backend, e.g. a
 * version subset), per workload, and they include what its proxy answered itself (fault
 * aborts, timeouts, no route, overload, circuit breaking): requests that never reached the
 * destination. Its inbound-side series (what destinations served it) are then not used.
 * A caller whose proxy was not scraped (unmeshed, or not scraped) is known only from the
 * destinations' inbound series: its verified identity and what was served to it.
 */
import { KEY_SEP } from './stat-rows.js';
import type { Labels } from './parse.js';
import type { TargetScrape } from './scrape.js';
import { aggregate, type RowTotals } from './window.js';

export interface CallerEdge {
  /** Empty for an unmeshed caller (no verified identity). */
  callerNamespace: string;
  callerServiceAccount: string;
  /** The caller's workload when its own proxy reported it (outbound side), else null. */
  callerWorkload: string | null;
  dstNamespace: string;
  dstService: string;
  /** outbound: as the caller's proxy sent it; inbound: as the destination served it (the caller's proxy was not scraped). */
  side: 'outbound' | 'inbound';
  totals: RowTotals;
}

const callerKey = (l: Labels): string => (l.src_namespace ?? '') + KEY_SEP + (l.src_service_account ?? '');

/** Callers (namespace and service account) whose own proxies were scraped: they have outbound series. */
function scrapedCallers(scrapes: readonly TargetScrape[]): Set<string> {
  const callers = new Set<string>();
  for (const t of scrapes) for (const s of t.samples) if (s.labels.direction === 'outbound' && (s.labels.src_service_account ?? '') !== '') callers.add(callerKey(s.labels));
  return callers;
}

/** Edges from scrapes (one scrape, or a window's increase), in no particular order. */
export function callerEdges(scrapes: readonly TargetScrape[]): CallerEdge[] {
  const sent = scrapedCallers(scrapes);
  // Key: side, caller namespace, account, workload ('' inbound), destination namespace, service.
  const totals = aggregate(scrapes, (l) => {
    if (l.direction === 'outbound') return ['outbound', callerKey(l), l.src_workload ?? '', l.dst_namespace ?? '', l.dst_service ?? ''].join(KEY_SEP);
    if (l.direction !== 'inbound' || sent.has(callerKey(l))) return null;
    return ['inbound', callerKey(l), '', l.dst_namespace ?? '', l.dst_service ?? ''].join(KEY_SEP);
  });
  const edges: CallerEdge[] = [];
  for (const [key, t] of totals) {
    const [side, ns = '', sa = '', workload = '', dstNs = '', dstSvc = ''] = key.split(KEY_SEP);
    edges.push({
      callerNamespace: ns,
      callerServiceAccount: sa,
      callerWorkload: workload === '' ? null : workload,
      dstNamespace: dstNs,
      dstService: dstSvc,
      side: side === 'outbound' ? 'outbound' : 'inbound',
      totals: t,
    });
  }
  return edges;
}

export interface EdgeRow {
  /** `<ns>/<workload>` when the caller's proxy reported it, else `<ns>/<service account>`; "-" when unknown. */
  src: string;
  /** `<ns>/<service>` */
  dst: string;
  /** The caller's SPIFFE id, "-" when it had none (unmeshed). */
  identity: string;
  requests: number;
  /** 0..1; null without requests. */
  successRate: number | null;
}

/** The caller's SPIFFE ID, or null for an unmeshed caller. */
export function callerIdentity(e: CallerEdge, trustDomain: string): string | null {
  return e.callerServiceAccount === '' ? null : `spiffe://${trustDomain}/ns/${e.callerNamespace}/sa/${e.callerServiceAccount}`;
}

/** `trellis edges` rows from one scrape of every proxy, sorted by source then destination. */
export function edgeRows(scrapes: readonly TargetScrape[], trustDomain: string): EdgeRow[] {
  const rows = callerEdges(scrapes).map((e): EdgeRow => {
    const known = e.callerServiceAccount !== '';
    return {
      src: e.callerWorkload !== null ? `${e.callerNamespace}/${e.callerWorkload}` : known ? `${e.callerNamespace}/${e.callerServiceAccount}` : '-',
      dst: `${e.dstNamespace}/${e.dstService}`,
      identity: callerIdentity(e, trustDomain) ?? '-',
      requests: e.totals.requests,
      successRate: e.totals.requests === 0 ? null : e.totals.successes / e.totals.requests,
    };
  });
  return rows.sort((a, b) => (a.src + KEY_SEP + a.dst).localeCompare(b.src + KEY_SEP + b.dst));
}
