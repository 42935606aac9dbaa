import type { MtlsMode, Protocol } from './common.js';
import type { LoadBalancerKind } from './snapshot.js';

/**
 * The control plane's REST API (plain HTTP on loopback, HTTPS elsewhere), used by the agent, the
 * CLI and the dashboard. Paths below; JSON bodies. Every call but /healthz carries a credential:
 * agents the agent token (state directory, 0600) or a joined host's client certificate, others
 * an API token (`authorization: Bearer <id>.<secret>`); what each path needs is in
 * docs/operations.md and src/control/api/routes.ts. Credentials: ./credentials.ts.
 *
 * PUT    /api/v1/agents/:agentId          body AgentReport  -> 200 {}   (full state, replaces the last)
 * DELETE /api/v1/agents/:agentId                           -> 200 {}   (agent stopping: endpoints removed)
 * POST   /api/v1/agents/:agentId/tokens   body {nodeId, identity} -> 200 {token, pushUrl, trustBundlePem, controlPlaneIdentity}
 * GET    /api/v1/services                 -> ServiceView[]
 * GET    /api/v1/workloads                -> WorkloadView[]
 * GET    /api/v1/endpoints                -> EndpointView[]
 * GET    /api/v1/proxies                  -> ProxyView[]
 * GET    /api/v1/proxies/:nodeId/snapshot -> {nodeId, version, snapshot}   (last compiled for it)
 * GET    /api/v1/check                    -> CheckReport
 * GET    /api/v1/version                  -> {version, trustDomain}
 * GET    /api/v1/prometheus/targets       -> PrometheusTargetGroup[]  (Prometheus http_sd_configs)
 * GET    /api/v1/traces?limit=N           -> TraceSummaryView[]  (traces.ts: spans the control plane received)
 * GET    /api/v1/traces/:traceId          -> TraceView
 * POST   /v1/traces                       OTLP/HTTP JSON spans in (traces.ts; no token, as for an OpenTelemetry collector)
 * GET    /healthz                         -> 200 "ok"
 * Mesh resources (HTTPRoute, GRPCRoute, DestinationPolicy, FaultInjection): see resources.ts.
 * nodeId in a path is URL-encoded (it contains slashes).
 */
export const API_PREFIX = '/api/v1';

export type { OtlpExportResponse, TraceSpanKind, TraceSpanView, TraceSummaryView, TraceView } from './traces.js';

export type ReplicaState = 'starting' | 'ready' | 'unhealthy' | 'crashed' | 'stopping' | 'stopped';

export interface PortSpec {
  name: string;
  protocol: Protocol;
  /** The inbound port's mTLS mode (absent: STRICT). */
  mtls?: MtlsMode;
}

export interface AgentReport {
  agentId: string;
  hostname: string;
  /** The control plane drops this agent's endpoints if no report arrives within leaseMs. */
  leaseMs: number;
  workloads: WorkloadReport[];
  /**
   * Services declared by label selector (mesh file `spec.services`), e.g. one per version for
   * canaries. Absent = none. Their endpoints are the replicas of every workload whose labels match.
   */
  services?: SelectorServiceReport[];
  /**
   * The agent's nftables lock of app ports (mesh file `spec.mtls.lockAppPorts`), which closes
   * the plaintext bypass. Absent: an agent that predates it (nothing known).
   */
  appPortLock?: AppPortLockReport;
}

export interface AppPortLockReport {
  /** The mesh file asks for it (`spec.mtls.lockAppPorts: true`). */
  requested: boolean;
  /** Ports whose TCP the agent's rules drop unless it comes over loopback (empty: no rules). */
  lockedPorts: number[];
  /** Why the agent cannot (or could not) install the rules on this host; absent when it can. */
  unavailable?: string;
}

/** A service whose endpoints are the replicas of every (non-ingress) workload whose labels match `selector`. */
export interface SelectorServiceReport {
  namespace: string;
  name: string;
  /** Every pair must be among the workload's labels (which always include `app: <its service>`). */
  selector: Record<string, string>;
}

export interface WorkloadReport {
  namespace: string;
  name: string;
  /** Service this workload's replicas serve (a workload has exactly one service today). */
  service: string;
  serviceAccount: string;
  ports: PortSpec[];
  /** Cluster names this workload's proxies route to. */
  upstreams: string[];
  /** True for an ingress gateway (no app, outbound listeners only). */
  ingress: boolean;
  /** How callers balance over this workload's service (absent: peak-ewma). */
  loadBalancer?: LoadBalancerKind;
  /** Labels for service selectors; `app: <service>` is implied even when absent. */
  labels?: Record<string, string>;
  replicas: ReplicaReport[];
}

export interface ReplicaReport {
  replica: number;
  nodeId: string;
  state: ReplicaState;
  restarts: number;
  appPid: number | null;
  proxyPid: number | null;
  /**
   * The proxy's loopback admin listener; '' when the control plane cannot reach it (the agent
   * runs with a non-loopback --advertise-address, i.e. on one of several hosts).
   */
  adminUrl: string;
  /** One per port: the proxy's inbound mTLS listener for it. */
  endpoints: { port: string; protocol: Protocol; host: string; portNumber: number }[];
  /**
   * The plaintext bypass: addresses beyond loopback that the app (its process tree) listens
   * on, such as `0.0.0.0:8080` or `[::]:8080`; there, it can be reached without its proxy,
   * so without mTLS and without policy. Absent or empty: none found.
   */
  exposed?: string[];
  lastExit: { code: number | null; signal: string | null; at: string } | null;
}

export interface ServiceView {
  namespace: string;
  name: string;
  identity: string;
  ports: PortSpec[];
  endpointsReady: number;
  endpointsTotal: number;
  /** Present for a service declared by label selector (its endpoints are the matching workloads'). */
  selector?: Record<string, string>;
}

export interface WorkloadView extends WorkloadReport {
  agentId: string;
  identity: string;
  /** The reporting agent's nftables lock of app ports (its AgentReport.appPortLock). */
  appPortLock?: AppPortLockReport;
}

export interface EndpointView {
  namespace: string;
  service: string;
  port: string;
  protocol: Protocol;
  host: string;
  portNumber: number;
  workload: string;
  replica: number;
  nodeId: string;
  identity: string;
  ready: boolean;
}

export interface ProxyView {
  nodeId: string;
  identity: string;
  connected: boolean;
  /** Latest version compiled for this proxy / last it acknowledged. */
  version: number | null;
  ackedVersion: number | null;
  nack: { version: number; error: string } | null;
  certNotAfter: string | null;
  certSerial: string | null;
  tlsHandshakes: number;
  tlsFailures: number;
  peersVerified: number;
  /** Plaintext connections since the proxy started, per PERMISSIVE inbound port (absent: none is PERMISSIVE). */
  plaintextConnections?: Record<string, number>;
  adminUrl: string | null;
  lastSeen: string | null;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

export interface CheckReport {
  ok: boolean;
  checks: CheckResult[];
}

/**
 * One group of Prometheus HTTP service discovery (`http_sd_configs`): the admin listener
 * (`/metrics`) of one proxy and labels naming it. Label names start with `trellis_`
 * (`trellis_namespace`, `trellis_workload`, `trellis_service`, `trellis_service_account`,
 * `trellis_replica`, `trellis_node_id`, `trellis_ingress`).
 */
export interface PrometheusTargetGroup {
  /** `host:port` of the proxy's admin listener. */
  targets: string[];
  labels: Record<string, string>;
}
