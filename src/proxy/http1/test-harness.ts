/**
 * Test support for the forwarder tests (not used by the product): a proxy listener on port 0,
 * two Http1Upstream implementations (connect per acquire; a small idle pool that marks reused
 * leases), a raw client, and a tiny response splitter.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { ProxyReason } from '../../errors.js';
import { serveHttp1 } from './server.js';
import type {
  ExchangeRecord, Http1Limits, Http1ServerOptions, Http1Upstream, RequestInfo, UpstreamFailure, UpstreamLease,
} from './types.js';
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

/** Connects per acquire; release destroys or ends the socket (no reuse). */
export class ConnectUpstream implements Http1Upstream {
  connects = 0;
  acquires: RequestInfo[] = [];
  releases: { reusable: boolean; failed: boolean }[] = [];
  readonly sockets = new Set<net.Socket>();
  constructor(private readonly port: number) {}

  acquire(req: RequestInfo, cb: (f: UpstreamFailure | null, l: UpstreamLease | null) => void): void {
    this.acquires.push(req);
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
      cb(null, {
        socket: s,
        reused: false,
        peer: `127.0.0.1:${this.port}`,
        release: (reusable, failed) => {
          this.releases.push({ reusable, failed });
          s.destroy();
        },
      });
    });
  }

  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }
}

/** Keeps released reusable sockets idle and lends them again (reused: true). */
export class PoolUpstream implements Http1Upstream {
  connects = 0;
  reuses = 0;
  releases: { reusable: boolean; failed: boolean; reused: boolean }[] = [];
  private readonly idle: net.Socket[] = [];
  readonly sockets = new Set<net.Socket>();
  constructor(private readonly port: number) {}

  acquire(_req: RequestInfo, cb: (f: UpstreamFailure | null, l: UpstreamLease | null) => void): void {
    const s = this.idle.pop();
    if (s !== undefined) {
      this.reuses++;
      // The forwarder's listeners stay on the socket for its life (they dispatch to the current owner).
      cb(null, this.lease(s, true));
      return;
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
  }

  private lease(s: net.Socket, reused: boolean): UpstreamLease {
    return {
      socket: s,
      reused,
      peer: `127.0.0.1:${this.port}`,
      release: (reusable, failed) => {
        this.releases.push({ reusable, failed, reused });
        if (reusable && !s.destroyed) this.idle.push(s);
        else s.destroy();
      },
    };
  }

  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }
}

export interface ProxyHandle {
  port: number;
  records: ExchangeRecord[];
  server: net.Server;
  close(): Promise<void>;
}

export async function startProxy(upstream: Http1Upstream, extra: Partial<Http1ServerOptions> = {}, limits: Partial<Http1Limits> = {}): Promise<ProxyHandle> {
  const records: ExchangeRecord[] = [];
  const options: Http1ServerOptions = {
    upstream,
    limits: { ...DEFAULT_HTTP1_LIMITS, ...limits },
    onExchange: (r) => records.push(r),
    ...extra,
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
