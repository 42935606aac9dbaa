/**
 * Test support for unit tests of the request pipeline and its stages: no sockets, no timers of
 * the system, nothing random. An exchange is built with `exchange()`; a stage's `next` is a
 * RecordingService whose recorded calls let the test drive the handler callbacks by hand; a
 * FakeAttempt stands for an upstream try; a RecordingHandler records what reaches the codec.
 */
import assert from 'node:assert/strict';
import type { ClusterConfig, RouteConfig } from '../../api/snapshot.js';
import type { ManualClock } from '../clock/manual-clock.js';
import { ClusterTable } from '../cluster/cluster-table.js';
import { NO_BODY } from '../pipeline/body.js';
import type { BodySink, BodySource, RequestBody } from '../pipeline/body.js';
import { Exchange } from '../pipeline/exchange.js';
import type { ExchangeInit, ListenerSite } from '../pipeline/exchange.js';
import type { LocalReply, ResponseHandler, Service, UpstreamAttempt } from '../pipeline/service.js';
import { compileRouteTable } from '../routing/compile.js';
import type { CompiledRule } from '../routing/types.js';

export const OUTBOUND: ListenerSite = Object.freeze({ name: 'out', direction: 'outbound', ingress: false, cluster: 'default/svc:http' });
export const INGRESS: ListenerSite = Object.freeze({ name: 'edge', direction: 'outbound', ingress: true, cluster: 'default/svc:http' });
export const INBOUND: ListenerSite = Object.freeze({ name: 'in', direction: 'inbound', ingress: false, cluster: '' });

/** An exchange as a codec would make it: GET / for svc, no body, unless `over` says otherwise. */
export function exchange(over: Partial<ExchangeInit> = {}): Exchange {
  return new Exchange({
    site: OUTBOUND,
    protocol: 'http1',
    peer: null,
    clientAddress: '127.0.0.1',
    method: 'GET',
    target: '/',
    headers: ['host', 'svc'],
    authority: 'svc',
    wire: null,
    grpc: false,
    upgrade: false,
    body: NO_BODY,
    start: 1_000,
    startedAt: 1_700_000_001_000,
    ...over,
  });
}

/** One callback that reached a handler, in order. */
export type HandlerEvent =
  | { readonly kind: 'interim'; readonly head: unknown }
  | { readonly kind: 'head'; readonly attempt: UpstreamAttempt }
  | { readonly kind: 'data'; readonly chunk: Buffer }
  | { readonly kind: 'end'; readonly trailers: unknown }
  | { readonly kind: 'local'; readonly reply: LocalReply };

/** The codec's side: records every callback; `headSent` marks the exchange as the codec would. */
export class RecordingHandler implements ResponseHandler {
  readonly events: HandlerEvent[] = [];
  constructor(private readonly marksHeadSent = true) {}

  onInterim(_ex: Exchange, head: unknown): void {
    this.events.push({ kind: 'interim', head });
  }
  onHead(ex: Exchange, attempt: UpstreamAttempt): void {
    if (this.marksHeadSent) ex.headSent = true;
    this.events.push({ kind: 'head', attempt });
  }
  onData(_ex: Exchange, chunk: Buffer): void {
    this.events.push({ kind: 'data', chunk });
  }
  onEnd(_ex: Exchange, trailers: unknown): void {
    this.events.push({ kind: 'end', trailers });
  }
  onLocal(_ex: Exchange, reply: LocalReply): void {
    this.events.push({ kind: 'local', reply });
  }

  get kinds(): string[] {
    return this.events.map((e) => e.kind);
  }

  /** The only local reply (fails unless exactly one event came and it was a local reply). */
  get local(): LocalReply {
    assert.equal(this.events.length, 1, `expected one local reply, got ${this.kinds.join(',') || 'nothing'}`);
    const e = this.events[0]!;
    assert.equal(e.kind, 'local');
    return (e as { reply: LocalReply }).reply;
  }
}

/** A call that reached the fake next service. */
export interface RecordedCall {
  readonly ex: Exchange;
  readonly handler: ResponseHandler;
  /** Snapshots taken at call time (stages may change them later). */
  readonly backend: string | undefined;
  readonly retries: number;
}

/** The fake `next` of a stage: records each call; the test answers through `calls[i].handler`. */
export class RecordingService implements Service {
  readonly calls: RecordedCall[] = [];
  /** Optional: runs inside call (e.g. to answer synchronously). */
  onCall: ((c: RecordedCall) => void) | null = null;

  call(ex: Exchange, handler: ResponseHandler): void {
    const c: RecordedCall = { ex, handler, backend: ex.backend, retries: ex.retries };
    this.calls.push(c);
    this.onCall?.(c);
  }

  get last(): RecordedCall {
    const c = this.calls[this.calls.length - 1];
    assert.ok(c !== undefined, 'next was never called');
    return c;
  }
}

export interface FakeAttemptInit {
  status?: number;
  endStream?: boolean;
  grpcStatus?: number | undefined;
  peer?: string;
  unsent?: boolean;
  /** Response fields, flat [name, value, ...]. */
  headers?: readonly string[];
}

/**
 * An upstream try: answers questions from its init, records pause/resume/abort. Bound to the
 * handler that started it (`bind`), its first abort tells that handler `onAborted`, as the
 * codecs' clients do.
 */
export class FakeAttempt implements UpstreamAttempt {
  status: number;
  endStream: boolean;
  grpcStatus: number | undefined;
  peer: string;
  unsent: boolean;
  headers: readonly string[];
  readonly aborts: boolean[] = [];
  paused = 0;
  resumed = 0;
  private starter: { ex: Exchange; handler: ResponseHandler } | null = null;

  constructor(init: FakeAttemptInit = {}) {
    this.status = init.status ?? 200;
    this.endStream = init.endStream ?? false;
    this.grpcStatus = init.grpcStatus;
    this.peer = init.peer ?? 'spiffe://test.local/ns/default/sa/up';
    this.unsent = init.unsent ?? false;
    this.headers = init.headers ?? [];
  }

  header(name: string): string | undefined {
    const h = this.headers;
    for (let i = 0; i + 1 < h.length; i += 2) if (h[i] === name) return h[i + 1];
    return undefined;
  }
  pause(): void {
    this.paused++;
  }
  resume(): void {
    this.resumed++;
  }
  abort(failed: boolean): void {
    this.aborts.push(failed);
    if (this.aborts.length === 1 && this.starter !== null) this.starter.handler.onAborted?.(this.starter.ex, this);
  }

  /** The handler that started this attempt (the endpoint stage's). */
  bind(ex: Exchange, handler: ResponseHandler): this {
    this.starter = { ex, handler };
    return this;
  }
}

/** The downstream codec's reading, as a body sees it: counts pauses and resumes. */
export class FakeBodySource implements BodySource {
  pauses = 0;
  resumes = 0;
  get paused(): boolean {
    return this.pauses > this.resumes;
  }
  pauseBody(): void {
    this.pauses++;
  }
  resumeBody(): void {
    this.resumes++;
  }
}

/** An attempt's side of the body: records what it was sent; `accept` decides what writeBody returns. */
export class RecordingSink implements BodySink {
  readonly written: Buffer[] = [];
  ended = false;
  trailers: unknown = undefined;
  accept = true;

  writeBody(chunk: Buffer): boolean {
    this.written.push(chunk);
    return this.accept;
  }
  endBody(trailers: unknown): void {
    this.ended = true;
    this.trailers = trailers;
  }
  get text(): string {
    return Buffer.concat(this.written).toString();
  }
}

/** Sends a whole body to a sink, as an attempt would (for mirror copies). */
export function drain(body: RequestBody): RecordingSink {
  const s = new RecordingSink();
  body.attach(s);
  return s;
}

/** A cluster config with no endpoints (the stages under test never connect). */
export function clusterConfig(name: string, extra: Partial<ClusterConfig> = {}): ClusterConfig {
  const [ns = 'default', rest = name] = name.split('/');
  const [service = rest, port = 'http'] = rest.split(':');
  return { name, namespace: ns, service, port, protocol: 'http', loadBalancer: 'round-robin', connectTimeoutMs: 1_000, endpoints: [], ...extra };
}

/** Routes attached to a cluster config. */
export function withRoutes(c: ClusterConfig, routes: RouteConfig[]): ClusterConfig {
  return { ...c, routes: { routes } };
}

/** A ClusterTable applied from `configs`; its budgets and balancers read `clock`. */
export function clusterTable(configs: ClusterConfig[], clock: ManualClock): ClusterTable {
  const t = new ClusterTable({
    connector: () => () => {
      throw new Error('no connections in stage unit tests');
    },
    balancer: { random: () => 0, now: () => clock.now() },
  });
  t.apply(configs);
  return t;
}

export function httpRoute(name: string, rules: RouteConfig['rules'], extra: Partial<RouteConfig> = {}): RouteConfig {
  return { kind: 'HTTPRoute', namespace: 'default', name, createdAt: 0, rules, ...extra } as RouteConfig;
}

/** The compiled rule of a one-rule route (for stages that read `ex.rule`). */
export function ruleOf(rule: RouteConfig['rules'][number], kind: 'HTTPRoute' | 'GRPCRoute' = 'HTTPRoute'): CompiledRule {
  const route = { kind, namespace: 'default', name: 'r', createdAt: 0, rules: [rule] } as RouteConfig;
  const r = compileRouteTable({ routes: [route] });
  if (!r.ok) assert.fail(`route refused: ${JSON.stringify(r.errors)}`);
  const m = kind === 'HTTPRoute' ? r.table.route('GET', '/', []) : r.table.route('POST', '/pkg.Svc/M', ['content-type', 'application/grpc']);
  assert.ok(m !== null, 'the rule should match');
  return m.rule;
}

/** A random source that returns `values` in turn (cycling), and counts its calls. */
export function randoms(...values: number[]): (() => number) & { calls: number } {
  let i = 0;
  const f = (() => {
    f.calls++;
    return values[i++ % values.length] as number;
  }) as (() => number) & { calls: number };
  f.calls = 0;
  return f;
}

/** Pairs of a flat field list (for assertions). */
export function pairs(flat: readonly string[] | null): [string, string][] {
  const out: [string, string][] = [];
  if (flat === null) return out;
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
  return out;
}
