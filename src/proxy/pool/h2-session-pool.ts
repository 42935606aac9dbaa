import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Connect, ConnectFailure } from './connect.js';

type SessionCallback = (failure: ConnectFailure | null, session: http2.ClientHttp2Session | null) => void;

/**
 * One HTTP/2 session per endpoint (h2 multiplexes, so one is enough). The socket comes from
 * `connect` (mTLS with ALPN h2 to a peer proxy, or h2c TCP to the local app). A session that
 * closes or receives GOAWAY is dropped; the next stream opens a new one.
 */
export class H2SessionPool {
  private session: http2.ClientHttp2Session | null = null;
  private waiters: SessionCallback[] | null = null;
  private closed = false;

  constructor(
    private readonly connect: Connect,
    private readonly authority: string,
  ) {}

  /** A stream would not need a new connection: a session is up or being set up. */
  get ready(): boolean {
    if (this.waiters !== null) return true;
    const s = this.session;
    return s !== null && !s.closed && !s.destroyed;
  }

  get(cb: SessionCallback): void {
    if (this.closed) {
      cb({ kind: 'refused', message: 'endpoint removed' }, null);
      return;
    }
    const s = this.session;
    if (s !== null && !s.closed && !s.destroyed) {
      cb(null, s);
      return;
    }
    if (this.waiters !== null) {
      this.waiters.push(cb);
      return;
    }
    this.waiters = [cb];
    this.connect((failure, socket) => {
      if (failure !== null || socket === null) {
        this.flush(failure ?? { kind: 'refused', message: 'no socket' }, null);
        return;
      }
      this.open(socket);
    });
  }

  private open(socket: Duplex): void {
    const session = http2.connect(this.authority, { createConnection: () => socket });
    const forget = (): void => {
      if (this.session === session) this.session = null;
    };
    session.on('error', () => forget());
    session.once('goaway', forget);
    session.once('close', forget);
    session.once('connect', () => {
      if (this.closed) {
        session.close();
        this.flush({ kind: 'refused', message: 'endpoint removed' }, null);
        return;
      }
      this.session = session;
      this.flush(null, session);
    });
    session.once('close', () => {
      if (this.waiters !== null) this.flush({ kind: 'tls', message: 'HTTP/2 session closed during setup' }, null);
    });
  }

  private flush(failure: ConnectFailure | null, session: http2.ClientHttp2Session | null): void {
    const waiters = this.waiters ?? [];
    this.waiters = null;
    for (const w of waiters) w(failure, session);
  }

  /** Graceful: GOAWAY, in-flight streams finish. */
  close(): void {
    this.closed = true;
    this.session?.close();
    this.session = null;
  }

  /** Immediate. */
  destroy(): void {
    this.closed = true;
    this.session?.destroy();
    this.session = null;
  }
}
