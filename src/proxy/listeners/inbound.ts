import http2 from 'node:http2';
import tls from 'node:tls';
import type { InboundListenerConfig } from '../../api/bootstrap.js';
import { ALPN_H2, ALPN_HTTP1, ALPN_TCP, isHttp2 } from '../../api/common.js';
import { serveHttp1 } from '../http1/server.js';
import { ConnectionLimiter } from '../http2/limits/connection-limiter.js';
import { DEFAULT_HTTP2_LIMITS, http2ServerOptions } from '../http2/limits/limits.js';
import { guardSession } from '../http2/limits/session-guard.js';
import { serveHttp2Stream } from '../http2/server-stream.js';
import type { Http2StreamOptions } from '../http2/server-stream.js';
import type { ListenerSite } from '../pipeline/exchange.js';
import type { Pipeline } from '../pipeline/stage.js';
import { AppLeases } from '../pool/app-source.js';
import { tcpConnector } from '../pool/connect.js';
import { H2SessionPool } from '../pool/h2-session-pool.js';
import { Http1Pool } from '../pool/http1-pool.js';
import { ProxyReason } from '../../errors.js';
import { TcpAuthorization } from '../stages/authz/index.js';
import { INBOUND_STACK } from '../stages/index.js';
import { relay } from '../tcp/relay.js';
import { boundPort, listenOn } from './bind.js';
import { ConnectionSet } from './connections.js';
import type { Listener, ListenerContext } from './context.js';
import { listenerPipeline } from './stack.js';
import { tcpObserver, type TcpRefusal } from './tcp-observer.js';

const INBOUND_ALPN = [ALPN_H2, ALPN_HTTP1, ALPN_TCP];

function expectedAlpn(config: InboundListenerConfig): string {
  if (isHttp2(config.protocol)) return ALPN_H2;
  return config.protocol === 'tcp' ? ALPN_TCP : ALPN_HTTP1;
}

/**
 * Inbound: terminate mTLS from peers (the client's SPIFFE ID must be in our trust domain), then
 * serve each request through the inbound stack (stages/index.ts), whose stages all see the
 * caller's verified identity, to the local app on loopback: HTTP/1 over a keep-alive pool,
 * HTTP/2 stream by stream over an h2c session; tcp as a byte relay.
 */
export class InboundListener implements Listener {
  readonly direction = 'inbound' as const;
  private readonly server: tls.Server;
  private readonly conns = new ConnectionSet();
  private readonly app: AppLeases;
  private readonly pipeline: Pipeline;
  private readonly h2server: http2.Http2Server | null = null;
  private readonly site: ListenerSite;
  private readonly alpn: string;
  private readonly appLabel: string;
  private readonly observeTcp;
  /** tcp ports: connections authorized at accept and re-checked when policies change. */
  private readonly tcpAuthz: TcpAuthorization | null;
  private pendingPeer: string | null = null;
  /** The caller of each h2 session, bound once per session (not per stream). */
  private readonly sessionOptions = new WeakMap<http2.Http2Session, Http2StreamOptions>();
  private readonly onRotate = (): void => {
    this.server.setSecureContext(this.ctx.tls.serverContextOptions());
  };

  constructor(
    readonly config: InboundListenerConfig,
    private readonly ctx: ListenerContext,
  ) {
    this.alpn = expectedAlpn(config);
    const app = config.app;
    this.appLabel = `${app.host}:${app.port}`;
    this.site = { name: config.name, direction: 'inbound', ingress: false, cluster: '' };
    this.observeTcp = tcpObserver(ctx, 'inbound', config.name, ctx.node.service);
    this.tcpAuthz = config.protocol === 'tcp' ? new TcpAuthorization(ctx.policies, config.name, ctx.logger) : null;
    const connect = tcpConnector(app.host, app.port, ctx.appConnectTimeoutMs);
    this.app = new AppLeases(
      this.appLabel,
      config.protocol === 'http' ? new Http1Pool(connect, ctx.appPool) : null,
      isHttp2(config.protocol) ? new H2SessionPool(connect, `http://${this.appLabel}`) : null,
    );
    this.pipeline = listenerPipeline(INBOUND_STACK, ctx, this.site, this.app, () => this.conns.isDraining);
    if (isHttp2(config.protocol)) this.h2server = this.createH2Server();
    this.server = tls.createServer({
      ...ctx.tls.serverOptions(INBOUND_ALPN),
      allowHalfOpen: config.protocol === 'tcp',
      // Node's default is 120 s: a peer that opens TCP and never finishes its handshake should not hold a connection that long.
      handshakeTimeout: ctx.limits.tlsHandshakeTimeoutMs,
    });
    new ConnectionLimiter(ctx.limits.maxConnections, (c) =>
      ctx.logger.warn({ listener: config.name, client: c.remoteAddress }, 'connection refused: the listener is at its connection limit'),
    ).attach(this.server);
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
    if (this.config.protocol === 'http') {
      const t = this.conns.add(socket, true);
      t.h1 = serveHttp1(socket, {
        pipeline: this.pipeline,
        site: this.site,
        peer,
        limits: this.ctx.limits,
        clock: this.ctx.clock,
        isDraining: () => this.conns.isDraining,
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

  private createH2Server(): http2.Http2Server {
    const server = http2.createServer(http2ServerOptions(DEFAULT_HTTP2_LIMITS));
    const noPeer: Http2StreamOptions = { pipeline: this.pipeline, site: this.site, peer: null, clock: this.ctx.clock };
    server.on('session', (session) => {
      if (this.pendingPeer !== null) this.sessionOptions.set(session, { ...noPeer, peer: this.pendingPeer });
      this.conns.addSession(session);
      session.on('error', () => {});
      guardSession(session, DEFAULT_HTTP2_LIMITS, this.ctx.clock, {
        onSessionClosed: (reason) => this.ctx.logger.debug({ listener: this.name, reason }, 'HTTP/2 session closed by its limits'),
      });
    });
    server.on('stream', (stream, headers) => {
      serveHttp2Stream(stream, headers, this.sessionOptions.get(stream.session as http2.Http2Session) ?? noPeer);
    });
    return server;
  }

  private relayTcp(socket: tls.TLSSocket, peer: string): void {
    this.conns.add(socket, false);
    const begin = this.observeTcp;
    const d = this.tcpAuthz?.decide(peer) ?? null;
    if (d !== null && !d.allowed) {
      // After the handshake, so the caller's proxy sees a reset, not a TLS failure (docs/security.md).
      begin(peer, undefined)({ bytesIn: 0, bytesOut: 0, error: undefined }, { reason: ProxyReason.Unauthorized, policy: d.label });
      resetConnection(socket);
      return;
    }
    tcpConnector(this.config.app.host, this.config.app.port, this.ctx.appConnectTimeoutMs, true)((f, app) => {
      if (f !== null || app === null) {
        this.ctx.logger.warn({ listener: this.name, err: f?.message }, 'app unavailable for TCP relay');
        socket.destroy();
        return;
      }
      const finish = begin(peer, this.appLabel);
      let refused: TcpRefusal | undefined;
      const untrack =
        this.tcpAuthz?.track(socket, peer, (denied) => {
          refused = { reason: ProxyReason.Unauthorized, policy: denied.label };
          app.destroy();
          resetConnection(socket);
        }) ?? (() => {});
      relay(socket, app, (r) => {
        untrack();
        finish(refused !== undefined ? { ...r, error: undefined } : r, refused);
      });
    });
  }

  async drain(timeoutMs: number): Promise<void> {
    this.server.close();
    await this.conns.drain(timeoutMs);
    this.close();
  }

  close(): void {
    this.tcpAuthz?.close();
    this.ctx.tls.removeListener('changed', this.onRotate);
    this.server.close();
    this.conns.destroyAll();
    this.app.close();
  }
}

/**
 * Ends a TLS connection with a TCP reset (RST), not a close_notify and FIN: the caller must
 * not read a refusal as a clean end of stream. A server-side TLSSocket's own handle is the TLS
 * wrap, so the reset goes to the TCP socket under it, and only there: destroying the TLS socket
 * too, after its TCP handle was reset, crashes Node 20 (SIGSEGV in the TLS wrap); the TLS socket
 * closes by itself once the TCP socket under it is gone. destroy() when there is no TCP socket.
 */
function resetConnection(socket: tls.TLSSocket): void {
  const raw = (socket as unknown as { _parent?: { resetAndDestroy?: () => void; destroyed?: boolean } | null })._parent;
  if (raw?.resetAndDestroy !== undefined && raw.destroyed !== true) {
    try {
      raw.resetAndDestroy();
      return;
    } catch {
      // Not a TCP handle: the destroy below ends it.
    }
  }
  socket.destroy();
}
