/**
 * `trellis why` (GET /api/v1/why): what the mesh would do with one request from a service's
 * proxy to a target, and why. Computed from the compiled snapshots with the proxy's own code
 * (path normalization, route table, inbound policy evaluator), so it cannot disagree with the
 * data plane (src/control/why/).
 */

export interface WhyQuery {
  /** The calling service: `name` or `namespace/name` (the default namespace: `default`). */
  source: string;
  /** `service`, `service:port` or `namespace/service:port`; the port may be left out when the caller reaches one port of it. */
  target: string;
  /** Default GET. */
  method?: string;
  /** Request target as the app sends it (path and query). Default `/`. */
  path?: string;
  /** Request fields as the app sends them; names are lower-cased. */
  headers?: [string, string][];
}

/** How the request would end, as the caller's app would see it. */
export type WhyOutcome =
  /** Served by the app behind the chosen backend. */
  | 'allowed'
  /** 403 `unauthorized` (gRPC PERMISSION_DENIED). */
  | 'denied'
  /** 400 `bad-path`: the proxy refuses the path before any route or policy sees it. */
  | 'bad-path'
  /** 404 `no-route`: routes are attached to the target and none matches. */
  | 'no-route'
  /** A redirect answered by the caller's proxy. */
  | 'redirect'
  /** 500 `no-backend`: the matching rule has no usable backend. */
  | 'no-backend'
  /** The caller's proxy has no cluster for the target (not an upstream of the caller, or nobody serves it). */
  | 'unknown-cluster'
  /** 503: no ready endpoint behind the chosen backend. */
  | 'no-endpoints';

export interface WhyRoute {
  /** `<namespace>/<name>` of the HTTPRoute or GRPCRoute. */
  route: string;
  kind: 'HTTPRoute' | 'GRPCRoute';
  /** Index of the matching rule in the route's `rules`. */
  rule: number;
  name?: string;
}

export interface WhyBackend {
  cluster: string;
  weight: number;
  /** Share of requests, percent (weights over their sum). */
  percent: number;
  /** False: not a cluster the caller's proxy knows (its share is answered 500). */
  valid: boolean;
}

/** The callee side for one group of replicas that hold the same inbound policy. */
export interface WhyDestination {
  /** The workloads (`namespace/name`) and proxies (node ids) that answer the same way. */
  workloads: string[];
  nodes: string[];
  /** The request as the callee's proxy sees it (after the route's rewrite and header edits). */
  path: string;
  decision: {
    allowed: boolean;
    /** `policy` (an AuthorizationPolicy's rule), `default` (the port's defaultAction) or `health-check`. */
    source: 'policy' | 'default' | 'health-check';
    /** What records, tap and metrics show: `<ns>/<name>`, `default` or `health-check`. */
    label: string;
    action?: 'ALLOW' | 'DENY' | 'AUDIT';
    rule?: number;
    reason: string;
  };
  defaultAction: 'allow' | 'deny' | 'authenticated';
  /** `mesh` or `<ns>/<policy>`. */
  defaultFrom: string;
  /** The AUDIT policy that would log the request. */
  audit?: string;
  /** RateLimitPolicies of the port and whether each covers the request. */
  rateLimits: { policy: string; mode: 'enforce' | 'shadow'; applies: boolean }[];
  /** What the control plane warns about these workloads' policies (an ALLOW with no effect...). */
  warnings: string[];
}

export interface WhyAnswer {
  source: { service: string; node: string; identity: string; snapshotVersion: number };
  target: { cluster: string; service: string; port: string; protocol: string };
  request: { method: string; path: string; query: string; host: string | null };
  /** The outcome for the request as a whole (with several weighted backends: the first backend's). */
  outcome: WhyOutcome;
  /** Sentences for people, in the order the mesh decides. */
  explanation: string[];
  /** The route rule that matched; null when the target has no routes (or the request was refused before routing). */
  route: WhyRoute | null;
  backends: WhyBackend[];
  /** Per backend cluster: its callee-side decision(s). */
  destinations: { cluster: string; outcome: WhyOutcome; groups: WhyDestination[] }[];
}
