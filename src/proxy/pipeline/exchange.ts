import type { ProxyReason } from '../../errors.js';
import type { TimerHandle } from '../clock/clock.js';
import type { Hop } from '../../telemetry/tracing/index.js';
import type { AuthzDecision } from '../policy/types.js';
import type { CompiledRule } from '../routing/types.js';
import type { RequestBody } from './body.js';
import { HeadEdits } from './head-edits.js';
import type { ExchangeRecord } from './record.js';
import type { Cancellable, CancelReason } from './service.js';

/** The codec an exchange came in on (the upstream attempt uses the same one). */
export type WireProtocol = 'http1' | 'http2';

/** Where exchanges come in: fixed per listener, shared by its exchanges. */
export interface ListenerSite {
  readonly name: string;
  readonly direction: 'inbound' | 'outbound';
  /** An ingress: an outbound listener that faces clients outside the mesh. */
  readonly ingress: boolean;
  /** An ingress that terminates TLS: clients reached it over https (x-forwarded-proto). */
  readonly tls?: boolean;
  /** Outbound: the cluster of the service this listener reaches (`<ns>/<service>:<port>`); inbound: ''. */
  readonly cluster: string;
  /** An egress listener: the destination port and the outbound mode (the egress stage). */
  readonly egress?: { readonly port: number; readonly mode: 'allowAny' | 'registryOnly' };
}

/** egress: where a request to a destination outside the mesh is sent. */
export interface EgressTarget {
  /** Addresses to try in order (an ExternalService's endpoints, else the host asked for). */
  readonly addresses: readonly { readonly host: string; readonly port: number }[];
}

/** What the downstream codec knows when a request head has arrived. */
export interface ExchangeInit {
  readonly site: ListenerSite;
  readonly protocol: WireProtocol;
  /** The caller's verified SPIFFE ID (inbound mTLS), or null: no verified identity. */
  readonly peer: string | null;
  /** The client's address (for x-forwarded-for at an ingress). */
  readonly clientAddress: string | undefined;
  readonly method: string;
  /** The request target as received (HTTP/1 request-target, HTTP/2 :path): for records. */
  readonly target: string;
  /** Request fields as received: flat [name, value, ...], lower-case names, no pseudo-headers, `host` = the authority. */
  readonly headers: readonly string[];
  readonly authority: string | undefined;
  /** The codec's own form of the head; only the same protocol's client reads it. */
  readonly wire: unknown;
  /** content-type application/grpc* */
  readonly grpc: boolean;
  /** HTTP/1 Upgrade (WebSocket...) or CONNECT: the response may turn the connection into a tunnel. */
  readonly upgrade: boolean;
  readonly body: RequestBody;
  /** Monotonic ms when the head's first byte arrived, and the wall clock then. */
  readonly start: number;
  readonly startedAt: number;
}

/**
 * One request and its response, as every stage sees it, whatever the protocol. The codec
 * makes it when a request head is complete; stages read the request, write their decisions
 * (route, backend, edits) and the outcome (status, reason, bytes) that observe, trace and tap
 * report when the exchange finishes.
 *
 * Fields a stage owns say so. A stage that needs more per-request state than a field keeps it
 * in the handler it allocates for the exchanges it acts on.
 */
export class Exchange implements ExchangeRecord {
  // ---- the request, as received --------------------------------------------------------------
  readonly site: ListenerSite;
  readonly protocol: WireProtocol;
  readonly peer: string | null;
  readonly clientAddress: string | undefined;
  readonly method: string;
  readonly target: string;
  readonly headers: readonly string[];
  readonly wire: unknown;
  readonly grpc: boolean;
  readonly upgrade: boolean;
  readonly body: RequestBody;
  /**
   * The authority the request is for: the Host / :authority, or an absolute-form target's
   * (which wins, RFC 9112 §3.2.2; the normalize stage sets it). Edits may rewrite it for the upstream.
   */
  host: string | undefined;
  readonly start: number;
  readonly startedAt: number;

  // ---- the request as the mesh understands it (normalize) ------------------------------------
  /** The path, normalized (percent-decoded where safe, dot-segments removed): what routes match and the app receives. */
  path = '/';
  /** The query without `?` ('' when none), as received. */
  query = '';

  // ---- decisions of the stages -----------------------------------------------------------------
  /** Edits to the forwarded request head (null: forward as received). */
  requestEdits: HeadEdits | null = null;
  /** Edits to the response head sent downstream (null: as the upstream sent it). */
  responseEdits: HeadEdits | null = null;
  /** route: the matched rule (null without routes). */
  rule: CompiledRule | null = null;
  /** route: `<namespace>/<name>` of the route that matched. */
  route: string | undefined = undefined;
  /** route: the backend cluster the request goes to (outbound). */
  backend: string | undefined = undefined;
  /** trace: this request's place in its trace (null while tracing is off). */
  hop: Hop | null = null;
  /** timeout: monotonic ms by which the whole exchange must be done (0: none); attempts pass what is left on (grpc-timeout). */
  deadline = 0;
  /** timeout: the running timer of `deadline` (cleared when the exchange finishes). */
  deadlineTimer: TimerHandle | null = null;
  /** authz: the authorization decision (null: the port has no policies, or the stage did not run). */
  authz: AuthzDecision | null = null;
  /** authz: the AUDIT rule that matched (the decision is `authz`'s either way). */
  audit: AuthzDecision | null = null;
  /** ratelimit: `<ns>/<name>` of the RateLimitPolicy over its limit (enforce: answered 429; shadow: admitted). */
  rateLimit: string | undefined = undefined;
  /** egress: the outside destination (egress listeners only; null elsewhere). */
  egress: EgressTarget | null = null;

  // ---- outcome (the record) ---------------------------------------------------------------------
  status = 0;
  grpcStatus: number | undefined = undefined;
  reason: ProxyReason | undefined = undefined;
  upstreamPeer: string | undefined = undefined;
  responseBodyBytes = 0;
  /** Monotonic ms when the final response head arrived from upstream (0: none). */
  responseHeadAt = 0;
  /** ms from the request head to the response head (undefined: none came). */
  upstreamMs: number | undefined = undefined;
  durationMs = 0;
  /** Route retries made (not failovers or stale-connection replays). */
  retries = 0;
  /** The exchange became a tunnel (101 Switching Protocols, CONNECT). */
  upgraded = false;

  // ---- lifecycle ------------------------------------------------------------------------------------
  /** What the exchange waits on now, if anything (set and cleared by whoever it waits on). */
  pending: Cancellable | null = null;
  /** Set once the exchange is abandoned; nothing is forwarded for it afterwards. */
  cancelled: CancelReason | null = null;
  /** The response head went downstream: a failure can only cut the response now. */
  headSent = false;

  constructor(init: ExchangeInit) {
    this.site = init.site;
    this.protocol = init.protocol;
    this.peer = init.peer;
    this.clientAddress = init.clientAddress;
    this.method = init.method;
    this.target = init.target;
    this.headers = init.headers;
    this.host = init.authority;
    this.wire = init.wire;
    this.grpc = init.grpc;
    this.upgrade = init.upgrade;
    this.body = init.body;
    this.start = init.start;
    this.startedAt = init.startedAt;
  }

  get requestBodyBytes(): number {
    return this.body.received;
  }

  // Policy fields of the record.
  get policy(): string | undefined {
    return this.authz?.label;
  }

  get auditPolicy(): string | undefined {
    return this.audit?.label;
  }

  // Trace fields of the record (TraceFields), from this request's hop while tracing is on.
  get traceId(): string | undefined {
    return this.hop?.traceId;
  }

  get spanId(): string | undefined {
    return this.hop?.spanId;
  }

  get parentSpanId(): string | undefined {
    return this.hop?.parentSpanId;
  }

  get sampled(): boolean | undefined {
    return this.hop?.sampled;
  }

  /** The edits to the forwarded request, made on first use (a copy of shared ones). */
  editRequest(): HeadEdits {
    const e = this.requestEdits;
    if (e === null) return (this.requestEdits = new HeadEdits());
    return e.shared ? (this.requestEdits = e.clone()) : e;
  }

  /** The edits to the response sent downstream, made on first use (a copy of shared ones). */
  editResponse(): HeadEdits {
    const e = this.responseEdits;
    if (e === null) return (this.responseEdits = new HeadEdits());
    return e.shared ? (this.responseEdits = e.clone()) : e;
  }

  /** Abandons the exchange: what it waits on gives up its resources. Idempotent. */
  cancel(reason: CancelReason): void {
    if (this.cancelled !== null) return;
    this.cancelled = reason;
    const p = this.pending;
    this.pending = null;
    p?.cancel(reason);
  }

  /** The first request field called `name` (lower case), as received. */
  header(name: string): string | undefined {
    const h = this.headers;
    for (let i = 0; i + 1 < h.length; i += 2) if (h[i] === name) return h[i + 1];
    return undefined;
  }
}
