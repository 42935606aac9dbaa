import type { Duplex } from 'node:stream';
import type { Connect, ConnectFailure } from './connect.js';

export interface Http1PoolOptions {
  /** Most idle keep-alive sockets kept for this endpoint. */
  maxIdle: number;
  /** An idle socket is closed after this long. */
  idleTimeoutMs: number;
}

export const DEFAULT_HTTP1_POOL: Http1PoolOptions = { maxIdle: 32, idleTimeoutMs: 30_000 };

export interface PooledSocket {
  readonly socket: Duplex;
  readonly reused: boolean;
  /** Exactly once: reusable sockets go back to the idle list, others are destroyed. */
  release(reusable: boolean): void;
}

function ignoreError(): void {
  // Errors of pooled sockets are handled by whoever holds them; this keeps an idle socket's
  // late error (e.g. ECONNRESET from a peer that went away) from crashing the process.
}

/**
 * One pooled socket for its whole life: the same object is lent for every exchange on it, and
 * its close/end listeners are added once, so a lease/release costs no allocation, no listener
 * churn and no timer (idle timeouts are found by one coarse sweep per pool).
 */
class PoolConn implements PooledSocket {
  reused = false;
  leased = false;
  idleSince = 0;
  constructor(
    private readonly pool: Http1Pool,
    readonly socket: Duplex,
  ) {}

  release(reusable: boolean): void {
    if (!this.leased) return;
    this.leased = false;
    this.pool.released(this, reusable);
  }

  poolGone(): void {
    this.pool.gone(this);
  }
}

const CONN = Symbol('trellis.pool.conn');

/**
 * Keep-alive sockets to one endpoint (like undici's Pool of Clients, reduced to what the
 * h1 forwarder needs: it drives the socket itself while leased). LIFO reuse keeps the set of
 * warm sockets small; a socket that closes or ends while idle leaves the list at once.
 */
export class Http1Pool {
  private readonly idle: PoolConn[] = [];
  private leased = 0;
  private closing = false;
  private sweep: NodeJS.Timeout | null = null;
  private readonly onSweep = (): void => this.sweepIdle();

  constructor(
    private readonly connect: Connect,
    private readonly options: Http1PoolOptions = DEFAULT_HTTP1_POOL,
  ) {}

  get idleCount(): number {
    return this.idle.length;
  }

  get leasedCount(): number {
    return this.leased;
  }

  /** `fresh`: connect a new socket even if idle ones are there (retry after a stale one). */
  acquire(cb: (failure: ConnectFailure | null, lease: PooledSocket | null) => void, fresh = false): void {
    if (this.closing) {
      cb({ kind: 'refused', message: 'endpoint removed' }, null);
      return;
    }
    const conn = fresh ? null : this.takeIdle();
    if (conn !== null) {
      cb(null, conn);
      return;
    }
    this.connect((failure, socket) => {
      if (failure !== null || socket === null) {
        cb(failure ?? { kind: 'refused', message: 'no socket' }, null);
        return;
      }
      cb(null, this.adopt(socket));
    });
  }

  /** An idle socket, leased, or null: synchronous, for callers with a fast path. */
  takeIdle(): PooledSocket | null {
    for (;;) {
      const c = this.idle.pop();
      if (c === undefined) return null;
      const s = c.socket;
      if (s.destroyed || !s.writable || s.readableEnded) {
        s.destroy();
        continue;
      }
      c.reused = true;
      c.leased = true;
      this.leased++;
      return c;
    }
  }

  /** Graceful: idle sockets close now, leased ones when released. */
  close(): void {
    this.closing = true;
    if (this.sweep !== null) {
      clearTimeout(this.sweep);
      this.sweep = null;
    }
    for (const c of this.idle.splice(0)) c.socket.destroy();
  }

  /** Called by PoolConn.release. */
  released(c: PoolConn, reusable: boolean): void {
    this.leased--;
    const s = c.socket;
    if (!reusable || this.closing || s.destroyed || this.idle.length >= this.options.maxIdle) {
      s.destroy();
      return;
    }
    c.idleSince = performance.now();
    this.idle.push(c);
    if (this.sweep === null) this.armSweep();
  }

  /** The socket closed or ended (listener added once per socket). */
  gone(c: PoolConn): void {
    if (c.leased) return; // its holder sees it
    const i = this.idle.indexOf(c);
    if (i !== -1) this.idle.splice(i, 1);
    c.socket.destroy();
  }

  private adopt(socket: Duplex): PoolConn {
    const c = new PoolConn(this, socket);
    (socket as Duplex & { [CONN]?: PoolConn })[CONN] = c;
    socket.on('error', ignoreError);
    socket.on('close', onSocketGone);
    socket.on('end', onSocketGone);
    c.leased = true;
    this.leased++;
    return c;
  }

  /** Idle timeouts: one timer per pool at a quarter of the timeout (so a socket lives at most 1.25x). */
  private armSweep(): void {
    const t = Math.max(10, Math.floor(this.options.idleTimeoutMs / 4));
    this.sweep = setTimeout(this.onSweep, t);
    this.sweep.unref();
  }

  private sweepIdle(): void {
    this.sweep = null;
    const limit = performance.now() - this.options.idleTimeoutMs;
    const idle = this.idle;
    let w = 0;
    for (let r = 0; r < idle.length; r++) {
      const c = idle[r]!;
      if (c.idleSince <= limit) c.socket.destroy();
      else idle[w++] = c;
    }
    idle.length = w;
    if (w > 0 && !this.closing) this.armSweep();
  }
}

function onSocketGone(this: Duplex & { [CONN]?: PoolConn }): void {
  const c = this[CONN];
  if (c !== undefined) c.poolGone();
}
