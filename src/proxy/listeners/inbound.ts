import http2 from 'node:http2';
import tls from 'node:tls';
import type { InboundListenerConfig } from '../../api/bootstrap.js';
import { ALPN_H2, ALPN_HTTP1, ALPN_TCP, isHttp2 } from '../../api/common.js';
import { serveHttp1 } from '../http1/server.js';
import { forwardStream } from '../http2/forward.js';
import type { StreamRecord } from '../http2/types.js';
import { AppHttp1Upstream } from '../pool/cluster-upstream.js';
import { tcpConnector } from '../pool/connect.js';
import { H2SessionPool } from '../pool/h2-session-pool.js';
import { AppHttp2Upstream } from '../pool/h2-upstream.js';
import { Http1Pool } from '../pool/http1-pool.js';
import { relay } from '../tcp/relay.js';
import { ConnectionSet } from './connections.js';
import type { Listener, ListenerContext } from './context.js';
import { PEER_IDENTITY_HEADER, STRIP_PEER_IDENTITY } from './context.js';
import { exchangeObserver } from './observe.js';
import { boundPort, listenOn } from './bind.js';

const INBOUND_ALPN = [ALPN_H2, ALPN_HTTP1, ALPN_TCP];

function expectedAlpn(config: InboundListenerConfig): string {
  if (isHttp2(config.protocol)) return ALPN_H2;
  return config.protocol === 'tcp' ? ALPN_TCP : ALPN_HTTP1;
}

/**
 * Inbound: terminate mTLS from peers (client SPIFFE ID must be in our trust domain), then
 * forward to the local app on loopback by the port's protocol: h1 through the forwarder
 * with a keep-alive pool to the app, h2/grpc stream by stream over an h2c session, tcp as a
 * byte relay. The app sees `trellis-peer-identity` set by us, never by the caller.
 */
export class InboundListener implements Listener {
  readonly direction = 'inbound' as const;
  private readonly server: tls.Server;
  private readonly conns = new ConnectionSet();
  private readonly appH1: AppHttp1Upstream | null = null;
  private readonly appH2: AppHttp2Upstream | null = null;
  private readonly h2server: http2.Http2Server | null = null;
  private readonly observe;
  private readonly noPeer: { peer: string; onStream: (r: StreamRecord) => void };
  private readonly alpn: string;
  private readonly appLabel: string;
  private pendingPeer: string | null = null;
  /** The caller of each h2 session and its stream observer (bound once per session, not per stream). */
  private readonly sessionPeers = new WeakMap<http2.Http2Session, { peer: string; onStream: (r: StreamRecord) => void }>();
  private readonly onRotate = (): void => {
    this.server.setSecureContext(this.ctx.tls.serverContextOptions());
  };

  constructor(
    readonly config: InboundListenerConfig,
    private readonly ctx: ListenerContext,
  ) {
    this.alpn = expectedAlpn(config);
    this.appLabel = `${config.app.host}:${config.app.port}`;
    this.observe = exchangeObserver(ctx, 'inbound', config.name, '');
    this.noPeer = { peer: '', onStream: this.observe.http2('') };
    const app = config.app;
    if (config.protocol === 'http') {
      this.appH1 = new AppHttp1Upstream(
        new Http1Pool(tcpConnector(app.host, app.port, ctx.appConnectTimeoutMs), ctx.appPool),
        this.appLabel,
      );
    } else if (isHttp2(config.protocol)) {
      this.appH2 = new AppHttp2Upstream(
        new H2SessionPool(tcpConnector(app.host, app.port, ctx.appConnectTimeoutMs), `http://${this.appLabel}`),
        this.appLabel,
      );
      this.h2server = this.createH2Server(this.appH2);
    }
    this.server = tls.createServer({ ...ctx.tls.serverOptions(INBOUND_ALPN), allowHalfOpen: config.protocol === 'tcp' });
    this.server.on('tlsClientError', (err) => {
      ctx.tls.inboundHandshakeFailed();
      ctx.logger.debug({ listener: config.name, err: err.message }, 'inbound TLS handshake failed');
    });
    this.server.on('secureConnection', (socket) => this.onSecureConnection(socket));
    ctx.tls.on('changed', this.onRotate);
  }

  get name(): string {
    return this.config.name;
  }

  get port(): number {
    return boundPort(this.server);
  }

  listen(): Promise<void> {
    return listenOn(this.server, this.config.listen);
  }

  private onSecureConnection(socket: tls.TLSSocket): void {
    socket.on('error', () => {});
    const peer = this.ctx.tls.acceptClient(socket);
    if (peer === null) {
      this.ctx.logger.warn({ listener: this.name }, 'inbound peer refused: no verified SPIFFE ID in the trust domain');
      socket.destroy();
      return;
    }
    if (socket.alpnProtocol !== this.alpn || this.conns.isDraining) {
      this.ctx.logger.warn({ listener: this.name, alpn: socket.alpnProtocol, peer }, 'inbound connection with the wrong protocol');
      socket.destroy();
      return;
    }
    if (this.appH1 !== null) {
      const t = this.conns.add(socket, true);
      t.h1 = serveHttp1(socket, {
        upstream: this.appH1,
        limits: this.ctx.limits,
        stripRequestHeaders: STRIP_PEER_IDENTITY,
        addRequestHeaders: [PEER_IDENTITY_HEADER, peer],
        onExchange: this.observe.http1(peer),
        tracer: this.ctx.tracer,
        isDraining: () => this.conns.isDraining,
        now: this.ctx.now,
      });
    } else if (this.h2server !== null) {
      this.conns.add(socket, false);
      this.pendingPeer = peer;
      this.h2server.emit('connection', socket);
      this.pendingPeer = null;
    } else {
      this.relayTcp(socket, peer);
    }
  }

  private createH2Server(upstream: AppHttp2Upstream): http2.Http2Server {
    const server = http2.createServer();
    server.on('session', (session) => {
      if (this.pendingPeer !== null) this.sessionPeers.set(session, { peer: this.pendingPeer, onStream: this.observe.http2(this.pendingPeer) });
      this.conns.addSession(session);
      session.on('error', () => {});
    });
    server.on('stream', (stream, headers) => {
      const bound = this.sessionPeers.get(stream.session as http2.Http2Session) ?? this.noPeer;
      forwardStream(stream, headers, {
        upstream,
        stripRequestHeaders: STRIP_PEER_IDENTITY,
        addRequestHeaders: [PEER_IDENTITY_HEADER, bound.peer],
        onStream: bound.onStream,
        tracer: this.ctx.tracer,
        now: this.ctx.now,
      });
    });
    return server;
  }

  private relayTcp(socket: tls.TLSSocket, peer: string): void {
    this.conns.add(socket, false);
    const started = this.ctx.now();
    const startedAt = Date.now();
    tcpConnector(this.config.app.host, this.config.app.port, this.ctx.appConnectTimeoutMs, true)((f, app) => {
      if (f !== null || app === null) {
        this.ctx.logger.warn({ listener: this.name, err: f?.message }, 'app unavailable for TCP relay');
        socket.destroy();
        return;
      }
      relay(socket, app, this.observe.tcp(peer, this.appLabel, startedAt, started));
    });
  }

  async drain(timeoutMs: number): Promise<void> {
    this.server.close();
    await this.conns.drain(timeoutMs);
    this.close();
  }

  close(): void {
    this.ctx.tls.removeListener('changed', this.onRotate);
    this.server.close();
    this.conns.destroyAll();
    this.appH1?.close();
    this.appH2?.close();
  }
}
