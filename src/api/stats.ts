/**
 * Golden metrics kept by the control plane for the dashboard. The control plane scrapes every
 * proxy's /metrics (the same targets as Prometheus service discovery) every `interval`, but
 * only while someone has read these endpoints in the last minute: an unwatched mesh costs
 * nothing. It keeps the last 15 minutes of scrapes in memory and answers from them.
 *
 * GET /api/v1/stats?window=30s          -> StatsView   (window 1s..15m, default 30s)
 * GET /api/v1/stats/series?kind=service|route&namespace=N&name=X&window=5m&step=5s
 *                                       -> SeriesView  (kind service: name is the service, as
 *                                          served; a selector service sums its matching workloads;
 *                                          kind route: name is the route `<ns>/<name>`, and
 *                                          namespace may then be left out; window 1s..15m,
 *                                          default 5m; step default and minimum the scrape
 *                                          interval, a finer one is raised to it)
 * GET /api/v1/workloads/status          -> WorkloadStatusView[]
 * Errors: 400 {error:{code:'TRELLIS_E_USAGE',message}} naming the bad parameter.
 *
 * Rates come from the increase between two scrapes (a counter reset counts from zero, as
 * PromQL's increase()). Latencies are seconds, from the histogram buckets (histogram_quantile).
 * Until two scrapes exist the rows are empty and `warmingUp` is true. Scraping starts on the
 * first read (and again after a pause of a minute, starting from an empty history).
 */

/** Success rate, request rate and latency over one window. */
export interface GoldenMetrics {
  requests: number;
  /** Requests per second over the window. */
  rps: number;
  /** 0..1 (non-5xx, gRPC OK); null without requests. */
  successRate: number | null;
  /** Seconds; null without requests. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/** Opaque TCP traffic over one window (no requests to count). */
export interface TcpTraffic {
  /** Connections opened in the window. */
  connections: number;
  connectionsPerSecond: number;
  /** Bytes relayed both ways. */
  bytes: number;
  bytesPerSecond: number;
}

/** A node of the service graph: a service (`<ns>/<service>`) or an ingress workload. */
export interface GraphNode {
  /** `<namespace>/<service>`, `<namespace>/<workload>` for an ingress, `external` for the external node. */
  id: string;
  namespace: string;
  name: string;
  kind: 'service' | 'ingress' | 'external';
  /**
   * As served (inbound side); absent for ingress/external nodes; zero requests and null rates
   * when idle. A service declared by label selector (a version subset) counts what the
   * replicas of its matching workloads served.
   */
  metrics?: GoldenMetrics;
  /** For a selector service: the id of the one service all its matching workloads serve (e.g. `default/catalog`). */
  subsetOf?: string;
  /** Opaque TCP connections its replicas accepted in the window; absent when none. */
  tcp?: TcpTraffic;
}

/**
 * Calls from one node to another over the window. A caller whose proxy was scraped is shown as
 * it sent (its outbound series: to the routed backend's service, including what its own proxy
 * answered, e.g. fault aborts and timeouts); otherwise as the destination served it. One edge
 * per caller identity: the source is the caller's workload's service node (an ingress' own
 * node; `external` for unmeshed callers). Only pairs with requests (or TCP connections) in the
 * window.
 */
export interface GraphEdge {
  /** GraphNode ids. `external` nodes stand for unmeshed callers. */
  source: string;
  target: string;
  /** Caller's SPIFFE ID; absent when unmeshed. */
  identity?: string;
  /** `tcp` for opaque TCP relays (metrics then has zero requests; see connections and bytes); absent for requests. */
  protocol?: 'tcp';
  /** TCP edges only: connections opened in the window, per second, and bytes relayed both ways. */
  connections?: number;
  connectionsPerSecond?: number;
  bytes?: number;
  bytesPerSecond?: number;
  metrics: GoldenMetrics;
}

export interface ServiceStatsRow extends GoldenMetrics {
  namespace: string;
  name: string;
}

export interface RouteStatsRow extends GoldenMetrics {
  /** `<ns>/<route name>` */
  route: string;
  /** `<ns>/<service>` the route sent to. */
  service: string;
}

export interface StatsView {
  /** Epoch ms of the newest scrape (0 when none yet). */
  at: number;
  /** Seconds between the two scrapes the rows come from (the requested window while warming up). */
  windowSeconds: number;
  /** Scrape interval in seconds. */
  intervalSeconds: number;
  warmingUp: boolean;
  nodes: GraphNode[];
  edges: GraphEdge[];
  services: ServiceStatsRow[];
  routes: RouteStatsRow[];
}

/** One point per step: the metrics over the step ending at `t`. */
export interface SeriesPoint extends GoldenMetrics {
  /** Epoch ms. */
  t: number;
}

export interface SeriesView {
  kind: 'service' | 'route';
  namespace: string;
  /** The service, or the route as `<ns>/<name>`. */
  name: string;
  stepSeconds: number;
  /** Oldest first; empty when the service or route had no series in the window (unknown, or never called). */
  points: SeriesPoint[];
}

/** What the dashboard shows per replica: who it is, its certificate and its config. */
export interface WorkloadStatusView {
  namespace: string;
  workload: string;
  service: string;
  ingress: boolean;
  replica: number;
  nodeId: string;
  state: string;
  identity: string;
  /** ISO time; null until the proxy has a certificate. */
  certNotAfter: string | null;
  /** Seconds until certNotAfter (negative when expired); null without a certificate. */
  certExpiresInSeconds: number | null;
  /** Latest config version compiled for the proxy and the last it acknowledged. */
  configVersion: number | null;
  ackedVersion: number | null;
  nack: { version: number; error: string } | null;
  connected: boolean;
  /**
   * Each inbound port's mTLS mode and, for PERMISSIVE ports, the plaintext connections its
   * proxy accepted since it started (null: not PERMISSIVE, or not reported yet). None for a
   * while on every replica: the port can be made STRICT.
   */
  ports: { name: string; mtls: 'STRICT' | 'PERMISSIVE'; plaintextConnections: number | null }[];
  /** The plaintext bypass: app listeners beyond loopback; `closed` when the agent's nftables rules drop them. */
  exposed: { address: string; closed: boolean }[];
}
