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
}

export type LoadBalancerKind = 'peak-ewma' | 'round-robin';

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
   * `src/proxy/routing/` (not wired into the listeners yet).
   */
  routes?: RouteTableConfig;
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
