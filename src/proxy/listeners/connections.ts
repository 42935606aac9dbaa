import type http2 from 'node:http2';
import type { Duplex } from 'node:stream';

interface Tracked {
  socket: Duplex;
  /** The h1 forwarder serving the connection (null for h2 and tcp): drain closes it when not busy. */
  h1: { readonly busy: boolean } | null;
}

/** Placeholder until the forwarder's handle is set. */
const IDLE = { busy: false };

/**
 * Downstream connections and h2 sessions of one listener, for drain: idle h1 connections
 * close at once, busy ones after their current response (the forwarder sees isDraining),
 * h2 sessions get GOAWAY, TCP relays run on; whatever is left at the deadline is destroyed.
 */
export class ConnectionSet {
  private readonly sockets = new Set<Tracked>();
  private readonly sessions = new Set<http2.Http2Session>();
  private draining = false;
  private emptied: (() => void) | null = null;

  get isDraining(): boolean {
    return this.draining;
  }

  get size(): number {
    return this.sockets.size;
  }

  add(socket: Duplex, countsExchanges: boolean): Tracked {
    const t: Tracked = { socket, h1: countsExchanges ? IDLE : null };
    this.sockets.add(t);
    socket.once('close', () => {
      this.sockets.delete(t);
      this.checkEmpty();
    });
    return t;
  }

  addSession(session: http2.Http2Session): void {
    this.sessions.add(session);
    session.once('close', () => this.sessions.delete(session));
    if (this.draining) session.close();
  }

  drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    for (const s of this.sessions) s.close();
    for (const t of this.sockets) if (t.h1 !== null && !t.h1.busy) t.socket.destroy();
    if (this.sockets.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.destroyAll();
        resolve();
      }, timeoutMs);
      timer.unref();
      this.emptied = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  destroyAll(): void {
    for (const s of this.sessions) s.destroy();
    for (const t of this.sockets) t.socket.destroy();
  }

  private checkEmpty(): void {
    if (this.sockets.size === 0 && this.emptied !== null) {
      const e = this.emptied;
      this.emptied = null;
      e();
    }
  }
}

export type { Tracked };
