import type { ProxyReason } from '../../errors.js';
import type { CompiledHeaderModifier, CompiledUrlRewrite } from '../routing/types.js';

/**
 * The seam between the forwarders (http1/server.ts, http2/forward.ts) and traffic policy
 * (routes, faults, retries, timeouts, mirrors). A planner looks at a request head once and
 * returns a RequestPlan; the forwarder carries it out. Forwarders know nothing of routes or
 * clusters, planners nothing of sockets, so each side is testable alone.
 *
 * `U` is the upstream type of the protocol: Http1Upstream or Http2Upstream.
 */

/** A response the proxy makes itself instead of forwarding. */
export interface LocalReply {
  status: number;
  reason: ProxyReason;
  message: string;
  /** Extra response fields, flat [name, value, ...] lower-case names (e.g. location). */
  headers?: readonly string[];
}

export interface RetryPolicy {
  /** Retries after the first attempt. */
  readonly attempts: number;
  /** Wait before each retry, ms. Forwarders add jitter of up to the same amount again. */
  readonly backoffMs: number;
  /** Retry when the response status is one of these (HTTP). */
  readonly httpCodes: ReadonlySet<number>;
  /** Retry when a trailers-only gRPC response carries one of these grpc-status codes. */
  readonly grpcCodes: ReadonlySet<number>;
}

/**
 * Retries may add only a share of load (Linkerd's retry budget). Owned by the cluster the
 * retries go to; shared by every request to it.
 */
export interface RetryBudget {
  /** Counts one original (non-retry) request towards the budget. */
  recordRequest(): void;
  /** Takes one retry from the budget; false means the budget is spent: do not retry. */
  tryRetry(): boolean;
}

export interface RequestPlan<U> {
  /** Answer with this instead of forwarding (no route, redirect, fault abort, no backend). */
  readonly local: LocalReply | null;
  /** Where the request goes (ignored when `local` is set). */
  readonly upstream: U | null;
  /** `<namespace>/<name>` of the route that matched, for logs and metrics; undefined without routes. */
  readonly route: string | undefined;
  /** Backend cluster name the request goes to. */
  readonly backend: string | undefined;
  /** Request header changes (RequestHeaderModifier), applied to the forwarded head. */
  readonly requestHeaders: CompiledHeaderModifier | undefined;
  /** URLRewrite of path and/or host, with the matched prefix for ReplacePrefixMatch. */
  readonly rewrite: { readonly rewrite: CompiledUrlRewrite; readonly matchedPrefix: string | undefined } | undefined;
  /** Response header changes (ResponseHeaderModifier), applied to the upstream's response head. */
  readonly responseHeaders: CompiledHeaderModifier | undefined;
  /** Fault delay before the request is forwarded, ms (0 = none). */
  readonly delayMs: number;
  /** Whole request, retries included, until the response is complete (0 = none): 504 request-timeout. */
  readonly requestTimeoutMs: number;
  /** One attempt, until the response head (0 = none): 504 upstream-timeout, retried if the policy allows. */
  readonly tryTimeoutMs: number;
  readonly retry: RetryPolicy | undefined;
  /** Budget of the backend cluster; retries happen only when it allows (undefined = no retries). */
  readonly budget: RetryBudget | undefined;
  /** Upstreams that get a copy of the request (responses discarded; percent already rolled). */
  readonly mirrors: readonly U[];
}

/**
 * Turns a request head into a plan. Synchronous and cheap: it runs once per request.
 * `target`: the h1 request target or the h2 `:path`; `headers`: flat [name, value, ...] with
 * lower-case names (for h2 without pseudo-headers, plus `host` from `:authority`).
 */
export type Planner<U> = (method: string, target: string, headers: readonly string[]) => RequestPlan<U>;

/** A plan that forwards unchanged to `upstream`; `over` sets the rest (planner and tests). */
export function planOf<U>(upstream: U | null, over: Partial<RequestPlan<U>> = {}): RequestPlan<U> {
  return {
    local: null,
    upstream,
    route: undefined,
    backend: undefined,
    requestHeaders: undefined,
    rewrite: undefined,
    responseHeaders: undefined,
    delayMs: 0,
    requestTimeoutMs: 0,
    tryTimeoutMs: 0,
    retry: undefined,
    budget: undefined,
    mirrors: [],
    ...over,
  };
}
