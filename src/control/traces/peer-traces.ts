import { Agent, request } from 'undici';
import type { TraceSpanView, TraceView } from '../../api/traces.js';
import { controlPlaneTlsOptions } from '../../identity/control-plane-tls.js';

/**
 * Each replica keeps, in memory, the spans its own proxies export to it (the snapshot's
 * collector is the API of the replica that configures the proxy), so one trace across hosts
 * may sit partly on every replica. A trace read on one replica therefore asks the others for
 * their share (`GET /api/v1/traces/<id>?local=1`, with this replica's read credential, the
 * peer verified as the control plane by the mesh CA) and merges the spans.
 */
export interface PeerTraceOptions {
  /** API URLs of the other live replicas. */
  peers: readonly string[];
  /** A read credential every replica accepts (tokens live in the shared store). */
  token: string;
  trustBundlePem: string[];
  /** Per peer; a slow or dead replica only loses its share. Default 2000 ms. */
  timeoutMs?: number;
}

/** Spans of `traceId` the peers keep (a peer that fails or keeps none adds nothing). */
export async function peerSpans(traceId: string, o: PeerTraceOptions): Promise<TraceSpanView[]> {
  const https = o.peers.some((p) => p.startsWith('https:')) ? new Agent({ connect: controlPlaneTlsOptions(o.trustBundlePem) }) : undefined;
  const timeout = o.timeoutMs ?? 2000;
  try {
    const lists = await Promise.all(
      o.peers.map(async (peer): Promise<TraceSpanView[]> => {
        try {
          const res = await request(`${peer}/api/v1/traces/${encodeURIComponent(traceId)}?local=1`, {
            headers: { authorization: `Bearer ${o.token}` },
            ...(peer.startsWith('https:') && https !== undefined ? { dispatcher: https } : {}),
            headersTimeout: timeout,
            bodyTimeout: timeout,
          });
          if (res.statusCode !== 200) {
            await res.body.dump();
            return [];
          }
          return ((await res.body.json()) as TraceView).spans;
        } catch {
          return [];
        }
      }),
    );
    return lists.flat();
  } finally {
    void https?.close();
  }
}

/** One view of a trace from this replica's spans and the peers': each span once, by start time. */
export function mergeTrace(traceId: string, local: TraceView | undefined, peers: readonly TraceSpanView[]): TraceView | undefined {
  const byId = new Map<string, TraceSpanView>();
  for (const s of [...(local?.spans ?? []), ...peers]) if (!byId.has(s.spanId)) byId.set(s.spanId, s);
  if (byId.size === 0) return undefined;
  const spans = [...byId.values()].sort((a, b) => a.startMs - b.startMs);
  return { traceId: local?.traceId ?? traceId.toLowerCase(), spans };
}
