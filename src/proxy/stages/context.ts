import type { Logger } from 'pino';
import type { AccessLog } from '../../telemetry/access-log.js';
import type { ProxyMetrics } from '../../telemetry/metrics.js';
import type { Clock } from '../clock/clock.js';
import type { ClusterTable } from '../cluster/cluster-table.js';
import type { ListenerSite, Exchange } from '../pipeline/exchange.js';
import type { Http1Lease, Http2Lease, LeaseSource } from '../pipeline/lease.js';
import type { ResponseHandler, UpstreamAttempt } from '../pipeline/service.js';
import type { PolicyTable } from '../policy/policy-table.js';
import type { EgressTable } from '../egress/egress-table.js';
import type { TapHub } from '../tap/tap-hub.js';
import type { Tracer } from '../tracing/tracer.js';

/** This proxy's own workload: the source of its outbound requests, the destination of inbound ones. */
export interface NodeLabels {
  /** This proxy's node id (`<namespace>/<workload>/<replica>`), as tap events name it. */
  nodeId: string;
  /** This proxy's SPIFFE ID. */
  identity: string;
  namespace: string;
  workload: string;
  service: string;
  serviceAccount: string;
}

/** An attempt made but not yet started: whoever made it knows it before it can call back. */
export interface StartableAttempt extends UpstreamAttempt {
  start(): void;
}

/**
 * Makes an attempt with the codec of the exchange's protocol. The listener supplies them, so
 * stages never import a codec: the endpoint stage is the same for HTTP/1 and HTTP/2.
 */
export interface AttemptStarters {
  http1(ex: Exchange, lease: Http1Lease, handler: ResponseHandler): StartableAttempt;
  http2(ex: Exchange, lease: Http2Lease, handler: ResponseHandler): StartableAttempt;
}

/**
 * What a listener offers its stages. Each stage's `configure` takes only what it needs from
 * here into its own typed config, so a stage's dependencies are explicit and a test builds just
 * those.
 */
export interface StageContext {
  readonly site: ListenerSite;
  readonly node: NodeLabels;
  readonly clock: Clock;
  /** Uniform in [0, 1): weights, fault and mirror percentages, jitter. */
  readonly random: () => number;
  readonly clusters: ClusterTable;
  /** Inbound authorization and rate limits by port, from the snapshot (authz, ratelimit). */
  readonly policies: PolicyTable;
  /** Declared ExternalServices (the egress stage); absent in tests that build no egress listener. */
  readonly egress?: EgressTable;
  readonly tracer: Tracer;
  readonly metrics: ProxyMetrics;
  readonly accessLog: AccessLog;
  readonly tap: TapHub;
  readonly logger: Logger;
  /** True while the listener drains. */
  isDraining(): boolean;
  /** Where the endpoint stage gets connections: the clusters (outbound), the local app (inbound). */
  readonly leases: LeaseSource;
  readonly attempts: AttemptStarters;
}
