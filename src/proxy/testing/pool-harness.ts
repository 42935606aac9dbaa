/**
 * Test support for the lease sources and the endpoint stage (not used by the product):
 * exchanges made without a codec, cluster tables over plain TCP, an endpoint stage whose
 * attempts are the test's (so a test holds a lease as long as it likes and ends it the way a
 * codec would), and a lease source that records how every lease was given back.
 */
import type { StartableAttempt } from '../stages/context.js';
import type { ClusterConfig } from '../../api/snapshot.js';
import type { BalancerDeps } from '../balancer/types.js';
import type { ClusterTable as ClusterTableType } from '../cluster/cluster-table.js';
import { ClusterTable } from '../cluster/cluster-table.js';
import { NO_BODY } from '../pipeline/body.js';
import type { RequestBody } from '../pipeline/body.js';
import { Exchange } from '../pipeline/exchange.js';
import type { ListenerSite, WireProtocol } from '../pipeline/exchange.js';
import type { Http1Lease, Http2Lease, Lease, LeaseCallback, LeaseRequest, LeaseSource, Permit } from '../pipeline/lease.js';
import { CancelReason } from '../pipeline/service.js';
import type { LocalReply, ResponseHandler, UpstreamAttempt } from '../pipeline/service.js';
import { tcpConnector } from '../pool/connect.js';
import { EndpointStage } from '../stages/endpoint/endpoint.js';

export interface ExchangeOptions {
  protocol?: WireProtocol;
  method?: string;
  /** Origin-form target; its path and query become the normalized `path` / `query` as given. */
  target?: string;
  /** Flat [name, value, ...] request fields (lower-case names, `host` = the authority). */
  headers?: string[];
  /** The listener's cluster (where the exchange goes without a route). */
  cluster?: string;
  grpc?: boolean;
  body?: RequestBody;
}

/** An exchange as a codec would make it for a request head, with no codec behind it. */
export function testExchange(o: ExchangeOptions = {}): Exchange {
  const site: ListenerSite = { name: 'test', direction: 'outbound', ingress: false, cluster: o.cluster ?? 'c' };
  const target = o.target ?? '/';
  const headers = o.headers ?? [];
  let authority: string | undefined;
  for (let i = 0; i + 1 < headers.length; i += 2) if (headers[i] === 'host') authority = headers[i + 1];
  const ex = new Exchange({
    site,
    protocol: o.protocol ?? 'http1',
    peer: null,
    clientAddress: '127.0.0.1',
    method: o.method ?? 'GET',
    target,
    headers,
    authority,
    wire: {},
    grpc: o.grpc ?? false,
    upgrade: false,
    body: o.body ?? NO_BODY,
    start: 0,
    startedAt: Date.now(),
  });
  const q = target.indexOf('?');
  ex.path = q < 0 ? target : target.slice(0, q);
  ex.query = q < 0 ? '' : target.slice(q + 1);
  return ex;
}

/** A cluster table whose endpoints are reached over plain TCP (h2c for HTTP/2). */
export function tcpTable(configs: ClusterConfig[], balancer?: BalancerDeps): ClusterTableType {
  const t = new ClusterTable({ connector: (ec, _alpn, timeoutMs) => tcpConnector(ec.host, ec.port, timeoutMs), ...(balancer !== undefined ? { balancer } : {}) });
  t.apply(configs);
  return t;
}

/** What one request through the endpoint stage came to: the lease its attempt got, or the stage's answer. */
export interface Outcome {
  lease: Lease | null;
  reply: LocalReply | null;
}

/** One exchange sent through a DrivenEndpoint. */
export class DrivenRequest implements ResponseHandler {
  lease: Lease | null = null;
  reply: LocalReply | null = null;
  /** Settles when the stage lends a connection to the attempt or answers itself. */
  readonly result: Promise<Outcome>;
  private settle!: (o: Outcome) => void;
  private handler: ResponseHandler | null = null;

  constructor(
    readonly ex: Exchange,
    private readonly order: string[] | undefined,
    private readonly tag: string | undefined,
  ) {
    this.result = new Promise((resolve) => (this.settle = resolve));
  }

  get http1(): Http1Lease {
    return this.lease as Http1Lease;
  }

  get http2(): Http2Lease {
    return this.lease as Http2Lease;
  }

  /** From the test attempt: the stage lent `lease`; `handler` is where the attempt reports. */
  started(lease: Lease, handler: ResponseHandler): void {
    this.lease = lease;
    this.handler = handler;
    this.done({ lease, reply: null });
  }

  /**
   * The response is over, as a codec's client ends it: the lease goes back (`reusable`: an
   * HTTP/1 socket between messages; `failed`: the upstream failed), then the stage hears the end.
   */
  finish(reusable = true, failed = false): void {
    this.lease!.release(reusable, failed);
    this.handler!.onEnd(this.ex, null);
  }

  /** The client went away (or a deadline passed): the exchange is cancelled. */
  cancel(reason: CancelReason = CancelReason.Client): void {
    this.ex.cancel(reason);
  }

  onInterim(): void {}
  onHead(): void {}
  onData(): void {}
  onEnd(): void {}
  onLocal(_ex: Exchange, reply: LocalReply): void {
    this.reply = reply;
    this.done({ lease: null, reply });
  }

  private done(o: Outcome): void {
    if (this.tag !== undefined) this.order?.push(this.tag);
    this.settle(o);
  }
}

/**
 * The endpoint stage over `leases`, with attempts that only take the lease: the test decides
 * when each response ends (`finish`) or when the client leaves (`cancel`), as the codecs do.
 */
export class DrivenEndpoint {
  private readonly stage: EndpointStage;
  private readonly byExchange = new Map<Exchange, DrivenRequest>();

  constructor(readonly leases: LeaseSource) {
    const start = (ex: Exchange, lease: Lease, handler: ResponseHandler): StartableAttempt =>
      Object.assign(heldAttempt(ex, lease, handler), { start: () => this.byExchange.get(ex)!.started(lease, handler) });
    this.stage = new EndpointStage({ leases, attempts: { http1: start, http2: start } });
  }

  /** Sends `ex` (default: a GET to cluster `c`) into the stage; `order` gets `tag` when it settles. */
  request(ex: Exchange = testExchange(), order?: string[], tag?: string): DrivenRequest {
    const r = new DrivenRequest(ex, order, tag);
    this.byExchange.set(ex, r);
    this.stage.call(ex, r);
    return r;
  }
}

/** An attempt that holds its lease until the test ends it; abort gives the lease back, as the codecs' clients do. */
function heldAttempt(ex: Exchange, lease: Lease, handler: ResponseHandler): UpstreamAttempt {
  const attempt: UpstreamAttempt = {
    status: 0,
    endStream: false,
    grpcStatus: undefined,
    peer: lease.peer,
    unsent: false,
    header: () => undefined,
    pause() {},
    resume() {},
    abort(failed: boolean) {
      lease.release(false, failed);
      handler.onAborted?.(ex, attempt);
    },
  };
  return attempt;
}

/** One `Lease.release` call. */
export interface ReleaseRecord {
  peer: string;
  reusable: boolean;
  failed: boolean;
  grpcStatus: number | undefined;
}

/** Passes everything to `inner` and records every release of the leases it lent (each call, not just the first). */
export class RecordingLeases implements LeaseSource {
  readonly releases: ReleaseRecord[] = [];
  /** Leases lent and not yet released. */
  outstanding = 0;

  constructor(private readonly inner: LeaseSource) {}

  admit(ex: Exchange): Permit | LocalReply {
    return this.inner.admit(ex);
  }

  acquire(ex: Exchange, want: LeaseRequest, cb: LeaseCallback): (() => void) | undefined {
    return this.inner.acquire(ex, want, (failure, lease) => cb(failure, lease === null ? null : this.wrap(lease)));
  }

  private wrap(lease: Lease): Lease {
    this.outstanding++;
    let released = false;
    // The wrapper keeps the lease's own fields (socket or session) and intercepts release.
    return new Proxy(lease, {
      get: (target, prop) => {
        if (prop !== 'release') {
          const v = Reflect.get(target, prop) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        }
        return (reusable: boolean, failed: boolean, grpcStatus?: number): void => {
          this.releases.push({ peer: target.peer, reusable, failed, grpcStatus });
          if (!released) {
            released = true;
            this.outstanding--;
          }
          target.release(reusable, failed, grpcStatus);
        };
      },
    });
  }
}
