import { PolicyTable } from '../policy/policy-table.js';
import http2 from 'node:http2';
import type { ClientHttp2Session, IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { ClusterConfig, HttpRouteRuleConfig, RetryBudgetConfig } from '../../api/snapshot.js';
import { ProxyReason } from '../../errors.js';
import { createAccessLog } from '../../telemetry/access-log.js';
import { silentLogger } from '../../telemetry/logger.js';
import { ProxyMetrics } from '../../telemetry/metrics.js';
import { systemClock } from '../clock/clock.js';
import type { Clock } from '../clock/clock.js';
import { ClusterTable } from '../cluster/cluster-table.js';
import type { Cluster } from '../cluster/cluster-table.js';
import { DEFAULT_HTTP1_LIMITS } from '../http1/types.js';
import { attemptStarters } from '../listeners/attempts.js';
import type { Exchange, ListenerSite } from '../pipeline/exchange.js';
import { NO_PERMIT } from '../pipeline/lease.js';
import type { Http2Lease, LeaseCallback, LeaseRequest, LeaseSource, Permit } from '../pipeline/lease.js';
import type { LocalReply, Service } from '../pipeline/service.js';
import { buildPipeline } from '../pipeline/stage.js';
import type { Stage } from '../pipeline/stage.js';
import { OUTBOUND_STACK } from '../stages/index.js';
import type { NodeLabels, StageContext } from '../stages/index.js';
import { TapHub } from '../tap/tap-hub.js';
import { Tracer } from '../tracing/tracer.js';
import { serveHttp2Stream } from './server-stream.js';

/**
 * Real servers and clients on 127.0.0.1 for the HTTP/2 codec's tests: an h2c upstream, a
 * LeaseSource over one h2c session that records what it lends, and a listener serving the
 * HTTP/2 codec through a stack of registered stages (the outbound stack by default) over the
 * endpoint stage, with a compiled route table where a test needs rules.
 */

export interface Listening {
  port: number;
  close(): Promise<void>;
}

export async function h2Server(onStream: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void): Promise<Listening> {
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('error', () => {});
    s.once('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    onStream(stream, headers);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** One `Lease.release` call, as the test upstream saw it (every call is kept: a second one is a bug to see). */
export interface Release {
  failed: boolean;
  grpcStatus: number | undefined;
}

/** One acquire, as the test upstream saw it. */
export interface AcquireRecord {
  /** The request fields every stage saw (flat, `host` from :authority). */
  headers: readonly string[];
  fresh: boolean;
}

/**
 * A LeaseSource with one h2c session and no circuit breaker: `failNext` acquires fail with
 * `failWith` (connect-failed by default), delivered on a later turn as a real pool would.
 */
export class TestUpstream implements LeaseSource {
  readonly releases: Release[] = [];
  readonly requests: AcquireRecord[] = [];
  failNext = 0;
  failWith: LocalReply = { status: 503, reason: ProxyReason.ConnectFailed, message: 'injected connect failure' };
  responseHeaders: readonly string[] | undefined = undefined;

  private constructor(readonly session: ClientHttp2Session) {}

  static async connect(port: number): Promise<TestUpstream> {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      session.once('connect', () => resolve());
      session.once('error', reject);
    });
    return new TestUpstream(session);
  }

  admit(): Permit | LocalReply {
    return NO_PERMIT;
  }

  acquire(ex: Exchange, want: LeaseRequest, cb: LeaseCallback): undefined {
    this.requests.push({ headers: ex.headers, fresh: want.fresh });
    if (this.failNext > 0) {
      this.failNext--;
      const f = this.failWith;
      setImmediate(() => cb(f, null));
      return undefined;
    }
    const lease: Http2Lease = {
      session: this.session,
      peer: 'test-upstream',
      reused: false,
      failoverKey: undefined,
      responseHeaders: this.responseHeaders,
      unavailable: () => {},
      onResponseHead: () => {},
      release: (_reusable, failed, grpcStatus) => {
        this.releases.push({ failed, grpcStatus });
      },
    };
    setImmediate(() => cb(null, lease));
    return undefined;
  }

  close(): void {
    this.session.destroy();
  }
}

/** The cluster every test request goes to (the listener's service and the routes' backend). */
export const SVC = 'default/svc:http';

export const NODE: NodeLabels = {
  nodeId: 'default/front/0',
  identity: 'spiffe://test.local/ns/default/sa/front',
  namespace: 'default',
  workload: 'front',
  service: 'front',
  serviceAccount: 'front',
};

/** A cluster table that never connects (the test's LeaseSource lends the connections). */
export function testClusters(configs: ClusterConfig[] = []): ClusterTable {
  const t = new ClusterTable({
    connector: () => (cb) => cb({ kind: 'refused', message: 'this test table connects nowhere' }, null),
  });
  t.apply(configs);
  return t;
}

/**
 * The listener's service with the HTTPRoute `default/test` (rules sending to SVC unless they say
 * otherwise), compiled as a snapshot compiles it. `set` replaces the rules in place: the cluster
 * object (and its retry budget's counts) is kept, as across snapshots.
 */
export class TestRoutes {
  readonly table: ClusterTable;

  constructor(rules: HttpRouteRuleConfig[] = []) {
    this.table = testClusters();
    this.set(rules);
  }

  /** `retryBudget`: the cluster's (absent: the default budget). */
  set(rules: HttpRouteRuleConfig[], retryBudget?: RetryBudgetConfig): void {
    const config: ClusterConfig = {
      name: SVC,
      namespace: 'default',
      service: 'svc',
      port: 'http',
      protocol: 'http2',
      loadBalancer: 'round-robin',
      connectTimeoutMs: 1_000,
      endpoints: [],
      ...(rules.length > 0 ? { routes: { routes: [{ kind: 'HTTPRoute', namespace: 'default', name: 'test', createdAt: 0, rules }] } } : {}),
      ...(retryBudget !== undefined ? { retryBudget } : {}),
    };
    this.table.apply([config]);
  }

  get cluster(): Cluster {
    return this.table.get(SVC)!;
  }
}

/** A rule of `default/test` that sends to SVC (`over` adds matches, filters, timeouts, retry). */
export function rule(over: Omit<HttpRouteRuleConfig, 'backends'> & { backends?: HttpRouteRuleConfig['backends'] } = {}): HttpRouteRuleConfig {
  return { backends: [{ cluster: SVC }], ...over };
}

/** Counts what the retry stage asks of a cluster's budget (the real budget still decides). */
export function spyBudget(cluster: Cluster): { requests: number; retries: number } {
  const counts = { requests: 0, retries: 0 };
  const b = cluster.retryBudget;
  const recordRequest = b.recordRequest.bind(b);
  const tryRetry = b.tryRetry.bind(b);
  b.recordRequest = () => {
    counts.requests++;
    recordRequest();
  };
  b.tryRetry = () => {
    const ok = tryRetry();
    if (ok) counts.retries++;
    return ok;
  };
  return counts;
}

export interface ProxyOptions {
  /** Registered stage names, first on the request path first (default: the outbound stack). */
  stages?: readonly string[];
  /** The test's own stages, in front of the named ones (e.g. one that throws). */
  front?: ((next: Service) => Stage)[];
  /** Clusters the stages read (routes, retry budgets, mirrors). Default: an empty table. */
  clusters?: ClusterTable;
  site?: Partial<ListenerSite>;
  node?: NodeLabels;
  clock?: Clock;
  random?: () => number;
  tracer?: Tracer;
  /** The verified caller identity of every stream (as an inbound listener sets it). */
  peer?: string | null;
}

export interface Proxy extends Listening {
  /** Every finished exchange, in the order they finished (after every stage's finish). */
  records: Exchange[];
}

/** The HTTP/2 codec behind an h2c server, serving through `[front..., stages...]` over `leases`. */
export async function proxy(leases: LeaseSource, o: ProxyOptions = {}): Promise<Proxy> {
  const records: Exchange[] = [];
  const clock = o.clock ?? systemClock;
  const node = o.node ?? NODE;
  const site: ListenerSite = { name: 'test', direction: 'outbound', ingress: false, cluster: SVC, ...o.site };
  const ctx: StageContext = {
    site,
    node,
    clock,
    random: o.random ?? (() => 0),
    clusters: o.clusters ?? testClusters(),
    policies: new PolicyTable(),
    tracer: o.tracer ?? new Tracer({ ...node, replica: 0 }),
    metrics: new ProxyMetrics(),
    accessLog: createAccessLog('off'),
    tap: new TapHub({ nodeId: node.nodeId }),
    logger: silentLogger(),
    isDraining: () => false,
    leases,
    attempts: attemptStarters(DEFAULT_HTTP1_LIMITS, clock),
  };
  const built = buildPipeline(o.stages ?? OUTBOUND_STACK, ctx);
  let head: Service = built.service;
  const front: Stage[] = [];
  for (const make of [...(o.front ?? [])].reverse()) {
    const s = make(head);
    front.unshift(s);
    head = s;
  }
  const pipeline = {
    service: head,
    finish(ex: Exchange): void {
      built.finish(ex);
      for (const s of front) s.finish?.(ex);
      records.push(ex);
    },
  };
  const options = { pipeline, site, peer: o.peer ?? null, clock };
  const listening = await h2Server((stream, headers) => serveHttp2Stream(stream, headers, options));
  return { ...listening, records };
}

export interface Reply {
  headers: IncomingHttpHeaders;
  /** The response head carried END_STREAM (trailers-only for gRPC). */
  headOnly: boolean;
  body: Buffer;
  trailers: IncomingHttpHeaders | null;
  rstCode: number;
}

/** One request on `session`; resolves when the stream closes, whatever happened. */
export function send(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer | string): Promise<Reply> {
  return new Promise((resolve) => {
    const req = session.request(headers, { endStream: body === undefined });
    const reply: Reply = { headers: {}, headOnly: false, body: Buffer.alloc(0), trailers: null, rstCode: 0 };
    const chunks: Buffer[] = [];
    req.on('error', () => {});
    req.on('response', (h, flags) => {
      reply.headers = h;
      reply.headOnly = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    req.on('trailers', (t) => {
      reply.trailers = t;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('close', () => {
      reply.body = Buffer.concat(chunks);
      reply.rstCode = req.rstCode ?? 0;
      resolve(reply);
    });
    if (body !== undefined) req.end(body);
  });
}

export async function client(port: number): Promise<ClientHttp2Session> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  await new Promise<void>((resolve) => session.once('connect', () => resolve()));
  return session;
}

/** A length-prefixed gRPC message. */
export function grpcFrame(payload: string): Buffer {
  const body = Buffer.from(payload);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

export const GRPC_HEAD = { ':method': 'POST', ':path': '/test.Echo/Echo', 'content-type': 'application/grpc', te: 'trailers' };

/** Answers a gRPC stream with one message and OK trailers. */
export function grpcOk(stream: ServerHttp2Stream, payload: string): void {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  stream.end(grpcFrame(payload));
}

/** Answers a gRPC stream trailers-only with `code` (and `extra` fields, e.g. trellis-reason). */
export function grpcTrailersOnly(stream: ServerHttp2Stream, code: number, extra: OutgoingHttpHeaders = {}): void {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': 'from upstream', ...extra }, { endStream: true });
}

/** Resolves once `cond()` holds, checking on every turn of the event loop (up to 5 s). */
export async function until(cond: () => boolean, what = 'condition'): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Reads a stream's request body to the end. */
export function readBody(stream: ServerHttp2Stream): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
  });
}
