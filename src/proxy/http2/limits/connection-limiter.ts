import type { Server } from 'node:net';

/**
 * Accepted connections per listener. 20,000 file descriptors per proxy, and a proxied HTTP/1
 * connection can hold one more to its upstream, so one listener flooded to its limit uses at
 * most about 8k of them and leaves room for the proxy's other listeners.
 */
export const DEFAULT_MAX_CONNECTIONS_PER_LISTENER = 4096;

export interface RefusedConnection {
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
}

/**
 * A per-listener connection limit for any listening net or tls server (HTTP/1, HTTP/2 or TCP).
 * It uses Node's own `server.maxConnections`: a connection over the limit is closed at accept,
 * in C++, before any JS socket or TLS handshake exists (so it costs no handshake and is no TLS
 * failure), and Node's 'drop' event lets us count it. Connections handed on with
 * `server.emit('connection')` (to an http2 server) are counted once, by the listening server.
 */
export class ConnectionLimiter {
  private refusedCount = 0;

  constructor(
    readonly max: number = DEFAULT_MAX_CONNECTIONS_PER_LISTENER,
    private readonly onRefused?: (c: RefusedConnection) => void,
  ) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`connection limit must be a positive integer, got ${max}`);
  }

  /** Connections refused since attach. */
  get refused(): number {
    return this.refusedCount;
  }

  /** Applies the limit to `server` (call before or after listen). */
  attach(server: Server): void {
    server.maxConnections = this.max;
    server.on('drop', (data) => {
      this.refusedCount++;
      this.onRefused?.({ remoteAddress: data?.remoteAddress, remotePort: data?.remotePort });
    });
  }
}
