import type { Protocol } from './common.js';

/**
 * Versioned dynamic configuration the control plane compiles for one proxy and pushes
 * over the push stream. A proxy applies a snapshot whole or not at all (NACK), and keeps
 * serving on the last one it accepted while the control plane is away.
 */
export interface ProxySnapshot {
  /** Strictly increasing for one control-plane store (survives restarts). */
  version: number;
  trustDomain: string;
  /** PEM CA certificates peers' chains must end in. */
  trustBundlePem: string[];
  clusters: ClusterConfig[];
  /** Distributed tracing (Mesh file `spec.tracing`); absent = the proxy records no spans. */
  tracing?: TracingConfig;
  /**
   * Authorization and rate limits of this proxy's inbound listeners, one entry per inbound
   * port (made by `inboundPolicyFor`, src/control/policy/). A port without an entry, or a
   * snapshot without `inbound`, enforces nothing: every caller that passed mTLS is served, as
   * before policies existed. Compiled by src/proxy/policy/.
   */
  inbound?: InboundPolicyConfig[];
  /**
   * Destinations outside the mesh (ExternalService resources) that this proxy's egress
   * listeners serve (made by `compileEgress`, src/control/compiler/egress.ts). Absent or empty:
   * none is declared; what an undeclared destination gets is the bootstrap's outbound mode.
   */
  egress?: ExternalServiceConfig[];
}

/** One ExternalService, as the egress listeners of its port use it. */
export interface ExternalServiceConfig {
  namespace: string;
  name: string;
  /** Lower-case name, or `*.`-prefixed wildcard (one or more labels), matched against Host / SNI. */
  hostname: string;
  /** Destination port: the egress listener of this port serves it. */
  port: number;
  protocol: 'http' | 'tls';
  /** Addresses to connect to instead of resolving the hostname. Absent: resolve the name asked for. */
  endpoints?: { host: string; port: number }[];
  /**
   * AuthorizationPolicies that target it, evaluated by the caller's proxy with the caller's own
   * identity as the source (`port` is `egress`). Absent: every workload may use it.
   */
  policy?: InboundPolicyConfig;
}

/**
 * Where and how much each proxy traces. Trace context (W3C traceparent, B3) is continued or
 * started on every request either way; sampled requests get a span per proxy hop (client span
 * on the caller's outbound proxy, server span on the callee's inbound proxy), exported over
 * OTLP/HTTP JSON.
 */
export interface TracingConfig {
  /** OTLP/HTTP traces URL, e.g. `http://127.0.0.1:4318/v1/traces`; by default the control plane's `/v1/traces`. */
  endpoint: string;
  /** Probability (0..1) that a new trace, one whose caller made no sampling decision, is recorded. */
  samplingRatio: number;
  /**
   * The endpoint is the control plane's own collector: over https its certificate is checked as
   * the control plane's (chains to the mesh trust bundle, carries its SPIFFE ID), as the push
   * stream checks it, not against public CAs it was never issued by. Absent: a collector of the
   * user's, checked as any https server.
   */
  controlPlane?: boolean;
}

export type LoadBalancerKind = 'peak-ewma' | 'round-robin' | 'least-request' | 'consistent-hash';

export interface ClusterConfig {
  /** `<namespace>/<service>:<port>` */
  name: string;
  namespace: string;
  service: string;
  port: string;
  protocol: Protocol;
  loadBalancer: LoadBalancerKind;
  connectTimeoutMs: number;
  endpoints: EndpointConfig[];
  /**
   * Routes (HTTPRoute / GRPCRoute, GAMMA: parentRef = this service port) for requests to this
   * cluster. Absent: every request goes to this cluster as today. Compiled by
   * `src/proxy/routing/`.
   */
  routes?: RouteTableConfig;
  // ---- DestinationPolicy (trellis.dev/v1alpha1) for this service; absent = defaults -----------
  /** Required when loadBalancer is 'consistent-hash': what the hash key is read from. */
  hashOn?: HashOnConfig;
  /** Circuit-breaking limits; each absent limit = unlimited. */
  connectionPool?: ConnectionPoolConfig;
  /** Passive health: eject endpoints that fail in a row. Absent = off. */
  outlierDetection?: OutlierDetectionConfig;
  /** Share of live requests that may be retries. Absent = DEFAULT_RETRY_BUDGET. */
  retryBudget?: RetryBudgetConfig;
  /** Active health checks of every endpoint. Absent = off. */
  healthCheck?: HealthCheckConfig;
}

/** Consistent hashing key: one request header, or a cookie the proxy sets when it is absent. */
export type HashOnConfig =
  | { header: string }
  | { cookie: { name: string; /** Max-Age of the cookie the proxy sets; 0 = session cookie. */ ttlMs: number } };

export interface ConnectionPoolConfig {
  /** Upstream connections (h1 sockets, h2 sessions) open to the whole cluster at once. */
  maxConnections?: number;
  /** Requests allowed to wait for a connection when maxConnections is reached. Absent = unlimited. */
  maxPendingRequests?: number;
  /** Requests (h1 exchanges, h2 streams) in flight to the cluster at once. Over it: 503 `overloaded`. */
  maxConcurrentRequests?: number;
}

export interface OutlierDetectionConfig {
  /** 5xx responses in a row that eject an endpoint (0 = not on 5xx). */
  consecutive5xx: number;
  /** Connect failures in a row that eject an endpoint (0 = not on connect failures). */
  consecutiveConnectFailures: number;
  /** How often ejection counts decay for endpoints that stayed healthy. */
  intervalMs: number;
  /** First ejection lasts this long; the n-th in a row n times as long (capped at MAX_EJECTION_MS). */
  baseEjectionMs: number;
  /** At most floor(endpoints * percent / 100) endpoints are ejected at once. */
  maxEjectionPercent: number;
}

export const MAX_EJECTION_MS = 300_000;

export interface RetryBudgetConfig {
  /** Retries may add at most this percentage of the live (non-retry) request rate... */
  percent: number;
  /** ...plus this many per second, so low-traffic services can still retry. */
  minRetriesPerSecond: number;
}

/** Linkerd's default: retries add at most 20% load plus 10 per second. */
export const DEFAULT_RETRY_BUDGET: RetryBudgetConfig = { percent: 20, minRetriesPerSecond: 10 };

export interface HealthCheckConfig {
  /** HTTP GET of this path through the endpoint's proxy; 200-399 is healthy. */
  http?: { path: string };
  /** grpc.health.v1.Health/Check for this service name ("" = the server as a whole); SERVING is healthy. */
  grpc?: { service: string };
  intervalMs: number;
  timeoutMs: number;
  /** Successes in a row that bring an unhealthy endpoint back. */
  healthyThreshold: number;
  /** Failures in a row that take an endpoint out. */
  unhealthyThreshold: number;
}

export interface EndpointConfig {
  /** Address of the endpoint's proxy inbound mTLS listener. */
  host: string;
  port: number;
  /** SPIFFE ID the endpoint's certificate must carry. */
  identity: string;
  workload: string;
  replica: number;
}

// ---------------------------------------------------------------------------------------------
// Routes (Gateway API HTTPRoute / GRPCRoute, GAMMA mesh profile), as plain JSON data.
// Durations are in ms. Validation and precedence live in src/proxy/routing/compile.ts.
// ---------------------------------------------------------------------------------------------

/** Every route attached to one logical service (one cluster). */
export interface RouteTableConfig {
  routes: RouteConfig[];
}

export type RouteConfig = HttpRouteConfig | GrpcRouteConfig;

interface RouteMeta {
  namespace: string;
  name: string;
  /** Creation timestamp (epoch ms): the older route wins a precedence tie. */
  createdAt: number;
  /**
   * Gateway API `spec.hostnames`: lower-case names, or `*.`-prefixed wildcards matching one or
   * more labels. The request's host (port and one trailing dot ignored, any case) must match
   * one; the most specific match wins before every other precedence rule. Absent or empty: any
   * host (and no host at all).
   */
  hostnames?: string[];
}

export interface HttpRouteConfig extends RouteMeta {
  kind: 'HTTPRoute';
  rules: HttpRouteRuleConfig[];
}

export interface GrpcRouteConfig extends RouteMeta {
  kind: 'GRPCRoute';
  rules: GrpcRouteRuleConfig[];
}

interface RouteRuleCommon {
  /** Optional rule name (Gateway API `rules[].name`), for logs. */
  name?: string;
  filters?: RouteFilterConfig[];
  backends: WeightedBackendConfig[];
  timeouts?: RouteTimeoutsConfig;
  retry?: RouteRetryConfig;
}

export interface HttpRouteRuleConfig extends RouteRuleCommon {
  /** ORed; empty or absent = one match of PathPrefix "/". */
  matches?: HttpRouteMatchConfig[];
}

export interface GrpcRouteRuleConfig extends RouteRuleCommon {
  /** ORed; empty or absent = every gRPC request. */
  matches?: GrpcRouteMatchConfig[];
}

export type PathMatchType = 'Exact' | 'PathPrefix' | 'RegularExpression';
export type ValueMatchType = 'Exact' | 'RegularExpression';

/** All present fields must match (AND). */
export interface HttpRouteMatchConfig {
  /** Absent = PathPrefix "/". */
  path?: { type: PathMatchType; value: string };
  headers?: ValueMatchConfig[];
  queryParams?: ValueMatchConfig[];
  /** Exact, e.g. "GET". */
  method?: string;
}

export interface ValueMatchConfig {
  /** Default Exact. */
  type?: ValueMatchType;
  /** Header names are case-insensitive; query parameter names are exact. */
  name: string;
  value: string;
}

export interface GrpcRouteMatchConfig {
  /** At least one of service and method. Type default Exact. */
  method?: { type?: ValueMatchType; service?: string; method?: string };
  headers?: ValueMatchConfig[];
}

export interface WeightedBackendConfig {
  /** Cluster name (`<namespace>/<service>:<port>`). */
  cluster: string;
  /** Non-negative integer, default 1. 0 = receives no traffic. */
  weight?: number;
}

export interface RouteTimeoutsConfig {
  /** Whole request, retries included. 0 or absent = none. */
  requestMs?: number;
  /** One attempt to a backend; <= requestMs. */
  backendRequestMs?: number;
}

export interface RouteRetryConfig {
  /** HTTP statuses (400..599) that are retried. */
  codes: number[];
  /**
   * gRPC status codes (1..16) that are retried when the upstream answers trailers-only
   * (GRPCRoute; from the route's `retry.trellis.dev/*` annotations). Absent = none.
   */
  grpcCodes?: number[];
  /** Retries after the first attempt. */
  attempts: number;
  backoffMs: number;
}

export interface HeaderModifierConfig {
  set?: { name: string; value: string }[];
  add?: { name: string; value: string }[];
  remove?: string[];
}

export type PathModifierConfig =
  | { type: 'ReplaceFullPath'; replaceFullPath: string }
  | { type: 'ReplacePrefixMatch'; replacePrefixMatch: string };

export type RouteFilterConfig =
  | { type: 'RequestHeaderModifier'; requestHeaderModifier: HeaderModifierConfig }
  | { type: 'ResponseHeaderModifier'; responseHeaderModifier: HeaderModifierConfig }
  | {
      type: 'RequestRedirect';
      requestRedirect: {
        scheme?: 'http' | 'https';
        hostname?: string;
        path?: PathModifierConfig;
        port?: number;
        /** 301 or 302 (default). */
        statusCode?: number;
      };
    }
  | { type: 'URLRewrite'; urlRewrite: { hostname?: string; path?: PathModifierConfig } }
  | { type: 'RequestMirror'; requestMirror: { cluster: string; /** 0..100, default 100 */ percent?: number } }
  | {
      type: 'Fault';
      fault: {
        delay?: { ms: number; /** 0..100 */ percent: number };
        abort?: { status: number; /** 0..100 */ percent: number };
      };
    };

// ---------------------------------------------------------------------------------------------
// Inbound policy (AuthorizationPolicy, RateLimitPolicy: trellis.dev/v1alpha1), as plain JSON
// data per inbound port. Rates are per second; globs are strings with a leading or trailing `*`.
// Validation and evaluation live in src/proxy/policy/ (the proxy and `trellis why` share them).
// ---------------------------------------------------------------------------------------------

/** What a request that no DENY and no ALLOW matched gets. */
export type DefaultAction = 'allow' | 'deny' | 'authenticated';

export type AuthorizationAction = 'ALLOW' | 'DENY' | 'AUDIT';

/** The policies of one inbound port, in the order they are evaluated (DENY, then ALLOW). */
export interface InboundPolicyConfig {
  /** The inbound listener: the port's name in the mesh file (`http`, `grpc`...). */
  port: string;
  /**
   * What a request gets when no DENY and no ALLOW matched: `allow` (served), `deny` (403),
   * `authenticated` (served when the caller has a verified identity, else 403).
   */
  defaultAction: DefaultAction;
  /** Where `defaultAction` came from, for answers and `trellis why`: `mesh` or `<ns>/<policy>`. */
  defaultFrom: string;
  authorization: AuthorizationPolicyConfig[];
  rateLimits: RateLimitConfig[];
  /**
   * The mesh's own active health checks of this port (the DestinationPolicy `healthCheck` of
   * the services this workload serves): `GET <httpPath>`, or a gRPC Health/Check call, from
   * any verified mesh identity is always allowed and never rate limited. Absent: none.
   */
  healthCheck?: { httpPaths: string[]; grpc: boolean };
}

/** Shared by both kinds: the resource it came from and, for a route target, the route it is limited to. */
interface InboundPolicyMeta {
  namespace: string;
  name: string;
  /**
   * Target HTTPRoute/GRPCRoute: the policy applies only to requests that match one of this
   * route's rules (only the rules that send to this service are kept; backends are not used).
   * Absent: the policy targets the service (or this port) and applies to every request.
   */
  route?: RouteConfig;
}

export interface AuthorizationPolicyConfig extends InboundPolicyMeta {
  action: AuthorizationAction;
  /** ORed. Empty: the policy matches no request. A rule with no from, to or when matches every request. */
  rules: AuthorizationRuleConfig[];
}

/** from (any), to (any) and when (all) must all hold; an absent list holds for every request. */
export interface AuthorizationRuleConfig {
  from?: { source: AuthorizationSourceConfig }[];
  to?: { operation: AuthorizationOperationConfig }[];
  when?: AuthorizationConditionConfig[];
}

/** Every present field must hold. Values are exact or carry one leading or trailing `*`. */
export interface AuthorizationSourceConfig {
  /** SPIFFE IDs: `spiffe://td/ns/shop/sa/web`, `spiffe://td/ns/shop/*`, `*` (any verified caller). */
  principals?: string[];
  notPrincipals?: string[];
  namespaces?: string[];
  notNamespaces?: string[];
  serviceAccounts?: string[];
  notServiceAccounts?: string[];
}

export interface AuthorizationOperationConfig {
  /** HTTP methods, exact (`GET`). */
  methods?: string[];
  notMethods?: string[];
  /** Normalized paths: exact `/api/v1`, segment prefix `/api/*` (`/api` too), string prefix `/api*`, suffix `*.json`, any `*`. */
  paths?: string[];
  notPaths?: string[];
  /** Inbound port names (this config's `port` either matches or the operation never does). */
  ports?: string[];
  notPorts?: string[];
  /** gRPC calls only: the service part of `/<service>/<method>` (`shop.Orders`, `shop.*`). */
  grpcServices?: string[];
  /** gRPC calls only: the method part (`Get*`). */
  grpcMethods?: string[];
}

/** A request header (any field with the name) must match one of `values` and none of `notValues`. */
export interface AuthorizationConditionConfig {
  /** Lower-case header name. */
  header: string;
  values?: string[];
  notValues?: string[];
}

/** A token bucket: `requestsPerSecond` refill, `burst` requests at once from a full bucket. */
export interface RateConfig {
  requestsPerSecond: number;
  burst: number;
}

export interface RateLimitConfig extends InboundPolicyMeta {
  /** enforce: over the limit is answered 429 / RESOURCE_EXHAUSTED; shadow: admitted and counted. */
  mode: 'enforce' | 'shadow';
  /**
   * All callers together, on this replica. For a global limit this is this replica's share
   * (the configured rate and burst divided by `global.replicas`); `global` keeps the whole.
   */
  total?: RateConfig & { global?: RateConfig & { replicas: number } };
  /** Each caller SPIFFE ID its own bucket; callers without an identity share one. */
  perIdentity?: RateConfig;
  /** Per-identity buckets of these exact SPIFFE IDs use their own rate (`perIdentity` must be set). */
  overrides?: (RateConfig & { principal: string })[];
}
