import type { Logger } from 'pino';
import type { AccessLog } from '../../telemetry/access-log.js';
import type { ProxyMetrics } from '../../telemetry/metrics.js';
import type { Clock } from '../clock/clock.js';
import type { ClusterTable } from '../cluster/cluster-table.js';
import type { Http1Limits } from '../http1/types.js';
import type { MeshTls } from '../mtls/mesh-tls.js';
import type { Http1PoolOptions } from '../pool/http1-pool.js';
import type { PolicyTable } from '../policy/policy-table.js';
import type { NodeLabels } from '../stages/context.js';
import type { EgressTable } from '../egress/egress-table.js';
import type { TapHub } from '../tap/tap-hub.js';
import type { Tracer } from '../tracing/tracer.js';

export type { NodeLabels } from '../stages/context.js';

/** What every listener needs from the running proxy (typed, no config bag beyond this). */
export interface ListenerContext {
  node: NodeLabels;
  tls: MeshTls;
  clusters: ClusterTable;
  /** Inbound policies by port (the authz and ratelimit stages). */
  policies: PolicyTable;
  /** ExternalServices of the running snapshot (egress listeners). */
  egress?: EgressTable;
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
  /** Time on the request path (durations, deadlines, timers). */
  clock: Clock;
  /** Uniform in [0, 1): weighted picks, fault and mirror percentages, jitter. */
  random: () => number;
}

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
