/**
 * Test support for the request-plan tests (not used by the product): node:http upstreams that
 * count requests, a plain client, fixed plans, a counting retry budget, and upstream wrappers.
 */
import http from 'node:http';
import { planOf } from '../traffic/plan.js';
import type { RequestPlan, RetryBudget, RetryPolicy } from '../traffic/plan.js';
import { listen } from './test-harness.js';
import type { Http1Upstream, RequestInfo, UpstreamFailure, UpstreamLease } from './types.js';

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface CountingUpstream {
  server: http.Server;
  port: number;
  seen: SeenRequest[];
}

/** An http server that records each request (with its body) before `handler` answers it. */
export async function countingUpstream(
  handler: (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void,
): Promise<CountingUpstream> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(parts).toString() });
      handler(req, res, seen.length);
    });
  });
  const port = await listen(server);
  return { server, port, seen };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function request(port: number, opts: http.RequestOptions, body?: string | Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, agent: false, ...opts }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A plan that forwards to `upstream` with nothing else, overridden by `over`. */
export function fixedPlan(upstream: Http1Upstream, over: Partial<RequestPlan<Http1Upstream>> = {}): RequestPlan<Http1Upstream> {
  return planOf(upstream, { route: 'default/test-route', backend: 'backend', ...over });
}

export function retryOn(codes: number[], attempts = 2, backoffMs = 5): RetryPolicy {
  return { attempts, backoffMs, httpCodes: new Set(codes), grpcCodes: new Set() };
}

/** Counts what the forwarder asks of a budget; says yes while `allow` holds. */
export class CountingBudget implements RetryBudget {
  requests = 0;
  asked = 0;
  constructor(public allow = true) {}
  recordRequest(): void {
    this.requests++;
  }
  tryRetry(): boolean {
    this.asked++;
    return this.allow;
  }
}

/** Lends `inner`'s leases with `responseHeaders` set. */
export class DecoratedUpstream implements Http1Upstream {
  constructor(private readonly inner: Http1Upstream, private readonly responseHeaders: readonly string[]) {}
  acquire(req: RequestInfo, cb: (f: UpstreamFailure | null, l: UpstreamLease | null) => void): void {
    this.inner.acquire(req, (f, l) => cb(f, l === null ? null : { ...l, responseHeaders: this.responseHeaders }));
  }
}

/** Fails the first `failures` acquires with a connect failure, then lends `inner`'s leases. */
export class FlakyConnectUpstream implements Http1Upstream {
  acquires = 0;
  constructor(private readonly inner: Http1Upstream, private failures: number) {}
  acquire(req: RequestInfo, cb: (f: UpstreamFailure | null, l: UpstreamLease | null) => void): void {
    this.acquires++;
    if (this.failures > 0) {
      this.failures--;
      cb({ status: 503, reason: 'connect-failed', message: 'connect refused' }, null);
      return;
    }
    this.inner.acquire(req, cb);
  }
}

export function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = (): void => {
      if (cond()) resolve();
      else if (Date.now() - started > timeoutMs) reject(new Error('timed out waiting for ' + what));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
