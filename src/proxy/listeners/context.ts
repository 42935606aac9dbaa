import type { Logger } from 'pino';
import type { AccessLog } from '../../telemetry/access-log.js';
import type { ProxyMetrics } from '../../telemetry/metrics.js';
import type { ClusterTable } from '../cluster/cluster-table.js';
import type { Http1Limits } from '../http1/types.js';
import type { MeshTls } from '../mtls/mesh-tls.js';
import type { Http1PoolOptions } from '../pool/http1-pool.js';
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

/** What every listener needs from the running proxy (typed, no config bag beyond this). */
export interface ListenerContext {
  node: NodeLabels;
  tls: MeshTls;
  clusters: ClusterTable;
  metrics: ProxyMetrics;
  accessLog: AccessLog;
  /** Off (enabled = false) until a snapshot carries `tracing`. */
  tracer: Tracer;
  /** Live tap: the listeners publish finished requests while `tap.active`. */
  tap: TapHub;
  logger: Logger;
  limits: Http1Limits;
  appPool?: Http1PoolOptions;
  /** Connect timeout to the local app. */
  appConnectTimeoutMs: number;
  /** Monotonic ms. */
  now(): number;
}

export const PEER_IDENTITY_HEADER = 'trellis-peer-identity';
export const STRIP_PEER_IDENTITY: ReadonlySet<string> = new Set([PEER_IDENTITY_HEADER]);

export interface Listener {
  readonly name: string;
  readonly direction: 'inbound' | 'outbound';
  /** Bound port (after listen). */
  readonly port: number;
  listen(): Promise<void>;
  /** Stop accepting, let in-flight work finish, close what is left after `timeoutMs`. */
  drain(timeoutMs: number): Promise<void>;
  /** Close everything now. */
  close(): void;
}
