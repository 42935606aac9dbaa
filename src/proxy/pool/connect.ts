import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';

/**
 * Connection setup as one callback-shaped function, so pools and failover logic do not care
 * whether a socket is plain TCP (to the local app) or mTLS (to a peer proxy).
 */
export type ConnectFailureKind = 'refused' | 'timeout' | 'tls';

export interface ConnectFailure {
  kind: ConnectFailureKind;
  /**
   * What went wrong, without the address (`connect ECONNREFUSED`, `connect timed out after
   * 3000 ms`): callers name the target once in their own words (`app 127.0.0.1:8080: ...`,
   * `cluster x: ... last: 10.0.0.2:4143: ...`), so it must not be in here too.
   */
  message: string;
  /** `host:port` that was tried, when the failure came from a connector. */
  where?: string;
}

/**
 * A socket error without the address Node appends to system errors (`connect ECONNREFUSED
 * 127.0.0.1:8080` becomes `connect ECONNREFUSED`).
 */
export function describeSocketError(err: Error): string {
  const e = err as NodeJS.ErrnoException;
  return typeof e.syscall === 'string' && typeof e.code === 'string' ? `${e.syscall} ${e.code}` : err.message;
}

export type ConnectCallback = (failure: ConnectFailure | null, socket: Duplex | null) => void;
export type Connect = (cb: ConnectCallback) => void;

/** Plain TCP connect (to the local app, or tests). */
export function tcpConnector(host: string, port: number, timeoutMs: number, allowHalfOpen = false): Connect {
  return (cb) => {
    const socket = net.connect({ host, port, noDelay: true, allowHalfOpen });
    let done = false;
    const finish = (f: ConnectFailure | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.removeListener('error', onError);
      if (f !== null) {
        socket.destroy();
        cb(f, null);
      } else {
        cb(null, socket);
      }
    };
    const where = `${host}:${port}`;
    const onError = (err: Error): void => finish({ kind: 'refused', message: describeSocketError(err), where });
    const timer = setTimeout(() => finish({ kind: 'timeout', message: `connect timed out after ${timeoutMs} ms`, where }), timeoutMs);
    socket.once('error', onError);
    socket.once('connect', () => finish(null));
  };
}

export interface MtlsTarget {
  host: string;
  port: number;
  /** SPIFFE ID the peer must present. */
  identity: string;
  alpn: string;
  timeoutMs: number;
  /** For opaque TCP relays: an end from the peer is a half-close, not a close. */
  allowHalfOpen?: boolean;
}

/**
 * Supplies TLS client options for an expected peer identity and checks the peer after the
 * handshake (returns the verified SPIFFE ID or null). Implemented by MeshTls.
 */
export interface ClientTlsSource {
  clientOptions(expectedIdentity: string, alpn: string[]): tls.ConnectionOptions;
  checkServer(socket: tls.TLSSocket, expectedIdentity: string): boolean;
  onClientHandshake(ok: boolean): void;
}

/** mTLS connect to a peer proxy; a wrong identity, a failed handshake or a wrong ALPN is kind 'tls'. */
export function mtlsConnector(target: MtlsTarget, source: ClientTlsSource): Connect {
  return (cb) => {
    let socket: tls.TLSSocket;
    try {
      const options: tls.ConnectionOptions & { allowHalfOpen?: boolean } = {
        ...source.clientOptions(target.identity, [target.alpn]),
        host: target.host,
        port: target.port,
        allowHalfOpen: target.allowHalfOpen === true,
      };
      socket = tls.connect(options);
    } catch (err) {
      cb({ kind: 'tls', message: `TLS setup for ${target.identity}: ${(err as Error).message}` }, null);
      return;
    }
    socket.setNoDelay(true);
    let tcpUp = false;
    let done = false;
    const where = `${target.host}:${target.port}`;
    const finish = (f: ConnectFailure | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.removeListener('error', onError);
      if (f !== null) {
        if (f.kind === 'tls') source.onClientHandshake(false);
        socket.destroy();
        cb(f, null);
      } else {
        source.onClientHandshake(true);
        cb(null, socket);
      }
    };
    const onError = (err: Error): void => finish({ kind: tcpUp ? 'tls' : 'refused', message: describeSocketError(err), where });
    const timer = setTimeout(() => finish({ kind: 'timeout', message: `connect timed out after ${target.timeoutMs} ms`, where }), target.timeoutMs);
    socket.once('error', onError);
    socket.once('connect', () => {
      tcpUp = true;
    });
    socket.once('secureConnect', () => {
      if (!source.checkServer(socket, target.identity)) {
        finish({ kind: 'tls', message: `peer is not ${target.identity}`, where });
      } else if (socket.alpnProtocol !== target.alpn) {
        finish({ kind: 'tls', message: `peer did not agree to ALPN ${target.alpn}`, where });
      } else {
        finish(null);
      }
    });
  };
}
