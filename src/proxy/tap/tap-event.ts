import type { TapEvent } from '../../api/tap.js';
import { destinationOfCluster } from '../../telemetry/request-metrics.js';

/**
 * What the tap reads of a finished request: the fields ExchangeRecord (HTTP/1) and
 * StreamRecord (HTTP/2) share, and `grpcStatus` (the final grpc-status of a gRPC call, which
 * travels in a 200 response). Any record with these fields can be tapped.
 */
export interface TapRecord {
  readonly startedAt: number;
  readonly durationMs: number;
  readonly method: string;
  readonly target: string;
  readonly status: number;
  readonly host?: string | undefined;
  readonly grpcStatus?: number | undefined;
  readonly reason?: string | undefined;
  readonly route?: string | undefined;
  readonly retries?: number | undefined;
  readonly backend?: string | undefined;
  readonly upstreamPeer?: string | undefined;
  readonly sampled?: boolean | undefined;
  readonly traceId?: string | undefined;
  readonly requestBodyBytes: number;
  readonly responseBodyBytes: number;
  readonly policy?: string | undefined;
  readonly auditPolicy?: string | undefined;
  readonly rateLimit?: string | undefined;
}

/** This proxy as tap events name it. */
export interface TapNode {
  nodeId: string;
  namespace: string;
  workload: string;
  service: string;
  /** This proxy's SPIFFE ID. */
  identity: string;
}

/**
 * What one listener's events share, computed once per listener so that building an event
 * copies references only.
 */
export interface TapSite {
  readonly direction: 'inbound' | 'outbound';
  readonly protocol: 'http' | 'http2';
  readonly proxy: TapEvent['proxy'];
  readonly identity: string;
  /** The listener's cluster (outbound) to tell a routed backend from the default. */
  readonly cluster: string;
  /** `<namespace>/<service>`: the listener's cluster's service (outbound) or this proxy's (inbound). */
  readonly service: string;
}

export function tapSite(node: TapNode, direction: 'inbound' | 'outbound', protocol: 'http' | 'http2', cluster: string): TapSite {
  return {
    direction,
    protocol,
    proxy: { nodeId: node.nodeId, namespace: node.namespace, workload: node.workload },
    identity: node.identity,
    cluster,
    service: direction === 'outbound' ? serviceOfCluster(cluster) : `${node.namespace}/${node.service}`,
  };
}

/** `default/b:http` -> `default/b`. */
function serviceOfCluster(cluster: string): string {
  const d = destinationOfCluster(cluster);
  return d.namespace === '' ? d.service : `${d.namespace}/${d.service}`;
}

/**
 * One finished exchange as a TapEvent. Outbound: the source is this proxy's identity and the
 * destination the routed backend's service (when a route chose another cluster) with the
 * endpoint's identity; inbound: the source is the caller's verified identity and the
 * destination this proxy's service, answered by the local app at `endpoint`.
 */
export function tapEventOf(site: TapSite, r: TapRecord, peerIdentity: string | undefined): TapEvent {
  const outbound = site.direction === 'outbound';
  const service = outbound && r.backend !== undefined && r.backend !== site.cluster ? serviceOfCluster(r.backend) : site.service;
  const e: TapEvent = {
    startedAt: r.startedAt,
    durationMs: r.durationMs,
    direction: site.direction,
    protocol: site.protocol,
    proxy: site.proxy,
    src: outbound ? { identity: site.identity } : peerIdentity !== undefined ? { identity: peerIdentity } : {},
    dst: outbound
      ? r.upstreamPeer !== undefined
        ? { service, identity: r.upstreamPeer }
        : { service }
      : r.upstreamPeer !== undefined
        ? { service, endpoint: r.upstreamPeer, identity: site.identity }
        : { service, identity: site.identity },
    method: r.method,
    path: r.target,
    status: r.status,
    bytesIn: r.requestBodyBytes,
    bytesOut: r.responseBodyBytes,
  };
  if (r.host !== undefined) e.authority = r.host;
  if (r.grpcStatus !== undefined) e.grpcStatus = r.grpcStatus;
  if (r.reason !== undefined) e.reason = r.reason;
  if (r.route !== undefined) e.route = r.route;
  if (r.retries !== undefined && r.retries > 0) e.retries = r.retries;
  if (r.sampled === true && r.traceId !== undefined) e.traceId = r.traceId;
  if (r.policy !== undefined) e.policy = r.policy;
  if (r.auditPolicy !== undefined) e.audit = r.auditPolicy;
  if (r.rateLimit !== undefined) e.rateLimit = r.rateLimit;
  return e;
}
