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

interface IdleEntry {
  socket: Duplex;
  timer: NodeJS.Timeout;
  onGone: () => void;
}

function ignoreError(): void {
  // Errors of pooled sockets are handled by whoever holds them; this keeps an idle socket's
  // late error (e.g. ECONNRESET from a peer that went away) from crashing the process.
}

/**
 * Keep-alive sockets to one endpoint (like undici's Pool of Clients, reduced to what the
 * h1 forwarder needs: it drives the socket itself while leased). LIFO reuse keeps the set of
 * warm sockets small; a socket that closes or ends while idle leaves the list at once.
 */
export class Http1Pool {
  private readonly idle: IdleEntry[] = [];
  private leased = 0;
  private closing = false;

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

  acquire(cb: (failure: ConnectFailure | null, lease: PooledSocket | null) => void): void {
    if (this.closing) {
      cb({ kind: 'refused', message: 'endpoint removed' }, null);
      return;
    }
    for (;;) {
      const entry = this.idle.pop();
      if (entry === undefined) break;
      this.unidle(entry);
      if (entry.socket.destroyed || !entry.socket.writable || entry.socket.readableEnded) {
        entry.socket.destroy();
        continue;
      }
      cb(null, this.lease(entry.socket, true));
      return;
    }
    this.connect((failure, socket) => {
      if (failure !== null || socket === null) {
        cb(failure ?? { kind: 'refused', message: 'no socket' }, null);
        return;
      }
      socket.on('error', ignoreError);
      cb(null, this.lease(socket, false));
    });
  }

  /** Graceful: idle sockets close now, leased ones when released. */
  close(): void {
    this.closing = true;
    for (const entry of this.idle.splice(0)) {
      this.unidle(entry);
      entry.socket.destroy();
    }
  }

  private lease(socket: Duplex, reused: boolean): PooledSocket {
    this.leased++;
    let released = false;
    return {
      socket,
      reused,
      release: (reusable: boolean) => {
        if (released) return;
        released = true;
        this.leased--;
        if (!reusable || this.closing || socket.destroyed || this.idle.length >= this.options.maxIdle) {
          socket.destroy();
          return;
        }
        this.putIdle(socket);
      },
    };
  }

  private putIdle(socket: Duplex): void {
    const onGone = (): void => {
      const i = this.idle.indexOf(entry);
      if (i !== -1) this.idle.splice(i, 1);
      this.unidle(entry);
      socket.destroy();
    };
    const timer = setTimeout(onGone, this.options.idleTimeoutMs);
    timer.unref();
    const entry: IdleEntry = { socket, timer, onGone };
    socket.once('close', onGone);
    socket.once('end', onGone);
    this.idle.push(entry);
  }

  private unidle(entry: IdleEntry): void {
    clearTimeout(entry.timer);
    entry.socket.removeListener('close', entry.onGone);
    entry.socket.removeListener('end', entry.onGone);
  }
}
