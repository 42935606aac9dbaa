/**
 * Test support for the HTTP/1 codec tests (not used by the product): a proxy listener on port 0
 * serving through a stack of stages over the endpoint stage, two lease sources (connect per
 * acquire; a small idle pool that marks reused leases), a raw client, and a response splitter.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { ProxyReason } from '../../errors.js';
import { systemClock } from '../clock/clock.js';
import type { Clock } from '../clock/clock.js';
import { attemptStarters } from '../listeners/attempts.js';
import type { Exchange, ListenerSite } from '../pipeline/exchange.js';
import { NO_PERMIT } from '../pipeline/lease.js';
import type { Http1Lease, LeaseCallback, LeaseRequest, LeaseSource, Permit } from '../pipeline/lease.js';
import type { LocalReply, Service } from '../pipeline/service.js';
import { pipelineOf } from '../pipeline/stage.js';
import type { Stage } from '../pipeline/stage.js';
import { EndpointStage } from '../stages/endpoint/endpoint.js';
import { serveHttp1 } from './server.js';
import type { Http1ServerOptions } from './server.js';
import type { Http1Limits } from './types.js';
import { DEFAULT_HTTP1_LIMITS } from './types.js';

export function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    (server as net.Server & { closeAllConnections?: () => void }).closeAllConnections?.();
    server.close(() => resolve());
  });
}

/** What a test upstream saw of one acquire. */
export interface AcquireRecord {
  method: string;
  /** The target as forwarded (after edits). */
  target: string;
  fresh: boolean;
  upgrade: boolean;
}

function acquireRecord(ex: Exchange, want: LeaseRequest): AcquireRecord {
  return { method: ex.method, target: ex.requestEdits?.target ?? ex.target, fresh: want.fresh, upgrade: ex.upgrade };
}

/** The system clock's timers with a `now()` that counts up by one per call (durations are then positive and ordered). */
export function countingClock(): Clock {
  let n = 0;
  return { now: () => ++n, epochMs: () => Date.now(), setTimer: systemClock.setTimer, clearTimer: systemClock.clearTimer };
}

function lease(socket: net.Socket, reused: boolean, peer: string, release: (reusable: boolean, failed: boolean) => void): Http1Lease {
  let done = false;
  return {
    socket,
    reused,
    peer,
    failoverKey: undefined,
    responseHeaders: undefined,
    unavailable() {},
    onResponseHead() {},
    release(reusable: boolean, failed: boolean) {
      if (done) return;
      done = true;
      release(reusable, failed);
    },
  };
}

/** Connects per acquire; release destroys the socket (no reuse). */
export class ConnectUpstream implements LeaseSource {
  connects = 0;
  acquires: AcquireRecord[] = [];
  releases: { reusable: boolean; failed: boolean }[] = [];
  readonly sockets = new Set<net.Socket>();
  constructor(private readonly port: number) {}

  admit(): Permit | LocalReply {
    return NO_PERMIT;
  }

  acquire(ex: Exchange, want: LeaseRequest, cb: LeaseCallback): undefined {
    this.acquires.push(acquireRecord(ex, want));
    const s = net.connect(this.port, '127.0.0.1');
    this.sockets.add(s);
    this.connects++;
    const onErr = (): void => {
      cb({ status: 503, reason: ProxyReason.ConnectFailed, message: 'connect failed' }, null);
    };
    s.once('error', onErr);
    s.once('connect', () => {
      s.removeListener('error', onErr);
      s.on('error', () => undefined);
      s.on('close', () => this.sockets.delete(s));
      cb(null, lease(s, false, `127.0.0.1:${this.port}`, (reusable, failed) => {
        this.releases.push({ reusable, failed });
        s.destroy();
      }));
    });
    return undefined;
  }

  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }
}

/** Keeps released reusable sockets idle and lends them again (reused: true). */
export class PoolUpstream implements LeaseSource {
  connects = 0;
  reuses = 0;
  releases: { reusable: boolean; failed: boolean; reused: boolean }[] = [];
  private readonly idle: net.Socket[] = [];
  readonly sockets = new Set<net.Socket>();
  constructor(private readonly port: number) {}

  admit(): Permit | LocalReply {
    return NO_PERMIT;
  }

  acquire(_ex: Exchange, want: LeaseRequest, cb: LeaseCallback): undefined {
    const s = want.fresh ? undefined : this.idle.pop();
    if (s !== undefined) {
      this.reuses++;
      cb(null, this.lease(s, true));
      return undefined;
    }
    const c = net.connect(this.port, '127.0.0.1');
    this.connects++;
    this.sockets.add(c);
    c.on('error', () => undefined);
    c.on('close', () => {
      this.sockets.delete(c);
      const i = this.idle.indexOf(c);
      if (i >= 0) this.idle.splice(i, 1);
    });
    c.once('connect', () => cb(null, this.lease(c, false)));
    return undefined;
  }

  private lease(s: net.Socket, reused: boolean): Http1Lease {
    return lease(s, reused, `127.0.0.1:${this.port}`, (reusable, failed) => {
      this.releases.push({ reusable, failed, reused });
      if (reusable && !s.destroyed) this.idle.push(s);
      else s.destroy();
    });
  }

  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }
}

export interface ProxyHandle {
  port: number;
  /** Every finished exchange, in the order they finished. */
  records: Exchange[];
  server: net.Server;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /**
   * Stages in front of the endpoint stage, first on the request path first (each gets the next
   * service). Default: none (the codec and the endpoint stage alone).
   */
  stages?: ((next: Service) => Stage)[];
  clock?: Clock;
  isDraining?: () => boolean;
  /** The caller's verified identity for every exchange (as an inbound listener would set it). */
  peer?: string | null;
}

const SITE: ListenerSite = { name: 'test', direction: 'outbound', ingress: false, cluster: 'test/upstream:http' };

/** A proxy listener on port 0 serving HTTP/1 through [stages..., endpoint(upstream)]. */
export async function startProxy(upstream: LeaseSource, extra: HarnessOptions = {}, limits: Partial<Http1Limits> = {}): Promise<ProxyHandle> {
  const records: Exchange[] = [];
  const fullLimits = { ...DEFAULT_HTTP1_LIMITS, ...limits };
  const clock = extra.clock ?? systemClock;
  const endpoint = new EndpointStage({ leases: upstream, attempts: attemptStarters(fullLimits, clock) });
  let service: Service = endpoint;
  const stages: Stage[] = [endpoint];
  for (const make of [...(extra.stages ?? [])].reverse()) {
    const s = make(service);
    stages.unshift(s);
    service = s;
  }
  const recorder: Stage = { call: (ex, h) => service.call(ex, h), finish: (ex) => records.push(ex) };
  const pipeline = pipelineOf(recorder, [recorder, ...stages]);
  const options: Http1ServerOptions = {
    pipeline,
    site: SITE,
    peer: extra.peer ?? null,
    limits: fullLimits,
    clock,
    isDraining: extra.isDraining,
  };
  const conns = new Set<net.Socket>();
  const server = net.createServer((s) => {
    conns.add(s);
    s.on('close', () => conns.delete(s));
    serveHttp1(s, options);
  });
  const port = await listen(server);
  return {
    port,
    records,
    server,
    close: () => {
      for (const c of conns) c.destroy();
      return closeServer(server);
    },
  };
}

/**
 * Sends raw bytes and collects the reply until `done(text)` holds or the socket closes.
 * Returns the text and whether the proxy closed the connection.
 */
export function rawExchange(port: number, data: string | Buffer, done?: (text: string) => boolean): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    let finished = false;
    const finish = (closed: boolean): void => {
      if (finished) return;
      finished = true;
      s.destroy();
      resolve({ text, closed });
    };
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (done !== undefined && done(text)) finish(false);
    });
    s.on('error', () => finish(true));
    s.on('close', () => finish(true));
    s.write(data);
  });
}

/** Splits a byte stream of responses with content-length bodies (enough for the tests). */
export function splitResponses(text: string): { head: string; status: number; body: string }[] {
  const out: { head: string; status: number; body: string }[] = [];
  let i = 0;
  while (i < text.length) {
    const e = text.indexOf('\r\n\r\n', i);
    if (e < 0) break;
    const head = text.slice(i, e);
    const m = /\r\ncontent-length: *(\d+)/i.exec(head);
    const len = m !== null ? Number(m[1]) : 0;
    out.push({ head, status: Number(head.slice(9, 12)), body: text.slice(e + 4, e + 4 + len) });
    i = e + 4 + len;
  }
  return out;
}
