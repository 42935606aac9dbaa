/**
 * Who calls whom: one edge per caller (namespace and service account, i.e. its SPIFFE
 * identity) and destination service. The destination's inbound series know the caller's
 * verified identity; the caller's outbound series also know its workload. When both sides
 * were scraped the destination's count wins (it is what was served), else the caller's.
 * Shared by `trellis edges` and the dashboard's service graph.
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
  totals: RowTotals;
}

/** Key: direction, caller namespace, caller service account, destination namespace, destination service. */
function edgeKey(l: Labels): string | null {
  if (l.direction !== 'inbound' && l.direction !== 'outbound') return null;
  return [l.direction, l.src_namespace ?? '', l.src_service_account ?? '', l.dst_namespace ?? '', l.dst_service ?? ''].join(KEY_SEP);
}

/** Edges from scrapes (one scrape, or a window's increase), in no particular order. */
export function callerEdges(scrapes: readonly TargetScrape[]): CallerEdge[] {
  const totals = aggregate(scrapes, edgeKey);
  const workloadOf = new Map<string, string>();
  for (const t of scrapes) {
    for (const s of t.samples) {
      const l = s.labels;
      if (l.direction === 'outbound' && (l.src_workload ?? '') !== '') workloadOf.set((l.src_namespace ?? '') + KEY_SEP + (l.src_service_account ?? ''), l.src_workload!);
    }
  }
  const edges = new Map<string, CallerEdge>();
  for (const [key, t] of totals) {
    const [direction, ns = '', sa = '', dstNs = '', dstSvc = ''] = key.split(KEY_SEP);
    const caller = ns + KEY_SEP + sa;
    const id = caller + KEY_SEP + dstNs + KEY_SEP + dstSvc;
    const seen = edges.get(id);
    // The destination's count replaces the caller's, never the other way round.
    if (seen !== undefined && direction !== 'inbound') continue;
    edges.set(id, { callerNamespace: ns, callerServiceAccount: sa, callerWorkload: workloadOf.get(caller) ?? null, dstNamespace: dstNs, dstService: dstSvc, totals: t });
  }
  return [...edges.values()];
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
