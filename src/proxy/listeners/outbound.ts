import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { OutboundListenerConfig } from '../../api/bootstrap.js';
import { isHttp2 } from '../../api/common.js';
import { serveHttp1 } from '../http1/server.js';
import { H2FieldGuard } from '../http2/field-guard/field-guard.js';
import { ConnectionLimiter } from '../http2/limits/connection-limiter.js';
import { DEFAULT_HTTP2_LIMITS, EDGE_HTTP2_LIMITS, http2ServerOptions } from '../http2/limits/limits.js';
import { guardSession } from '../http2/limits/session-guard.js';
import { serveHttp2Stream } from '../http2/server-stream.js';
import type { Http2StreamOptions } from '../http2/server-stream.js';
import type { ListenerSite } from '../pipeline/exchange.js';
import type { Pipeline } from '../pipeline/stage.js';
import { ClusterLeases } from '../pool/cluster-source.js';
import { connectWithFailover } from '../pool/failover.js';
import { IngressCertificates } from '../ingress-tls/ingress-certificates.js';
import { ingressAlpn } from '../ingress-tls/tls-options.js';
import { EGRESS_HTTP_STACK, OUTBOUND_STACK } from '../stages/index.js';
import { EgressLeases } from '../egress/egress-leases.js';
import { relay } from '../tcp/relay.js';
import { boundPort, listenOn } from './bind.js';
import { ConnectionSet } from './connections.js';
import type { Listener, ListenerContext } from './context.js';
import { listenerPipeline } from './stack.js';
import { tcpObserver } from './tcp-observer.js';
import type { IngressTlsMetrics } from '../../telemetry/metrics.js';
import { destinationOfCluster } from '../../telemetry/request-metrics.js';

/**
 * Outbound: a plain listener through which the app (or, for an ingress, a client outside the
 * mesh) reaches one service. HTTP/1 and HTTP/2 (h2c) connections are framed by their codec and
 * every request goes through the outbound stack (stages/index.ts: routes, faults, timeouts,
 * retries, mirrors, the balancer's endpoint over mTLS); tcp is relayed to one endpoint (ALPN
 * trellis-tcp). An ingress may terminate TLS first (`config.tls`: operator certificates chosen
 * by SNI, reloaded when their files change; ingress-tls/), then serves the decrypted
 * connection the same way, HTTP/2 when ALPN chose `h2`.
 */
export class OutboundListener implements Listener {
  readonly direction = 'outbound' as const;
  private readonly server: net.Server;
  /** Ingress TLS: the certificates (null: plain text). */
  private readonly certs: IngressCertificates | null = null;
  private readonly tlsMetrics: IngressTlsMetrics | null = null;
  private readonly conns = new ConnectionSet();
  private readonly h2server: http2.Http2Server | null = null;
  /**
   * Ingress only: nghttp2 silently drops an HTTP/2 field with CR, LF or NUL and lets the request
   * through; the guard resets such a stream instead (RFC 9113 §8.2.1). It reads every byte a
   * second time through a JS stream (measured: ~+60% server CPU per h2 request), so it stands
   * where clients are strangers: the mesh's own apps and peer proxies (whose HTTP/2 client
   * refuses such fields) do without it.
   */
  private readonly fieldGuard: H2FieldGuard | null = null;
  private readonly pipeline: Pipeline | null = null;
  private readonly site: ListenerSite;
  private pendingClient: string | undefined = undefined;
  /** Each h2 session's stream options (its client's address), bound once per session. */
  private readonly sessionOptions = new WeakMap<http2.Http2Session, Http2StreamOptions>();
  private readonly observeTcp;
  /** Egress listeners: their pools to the outside, closed with the listener. */
  private egressLeases: EgressLeases | null = null;

  constructor(
    readonly config: OutboundListenerConfig,
    private readonly ctx: ListenerContext,
  ) {
    const isIngress = config.ingress === true;
    const useTls = isIngress && config.tls !== undefined;
    const egress = config.egress;
    this.site = {
      name: config.name,
      direction: 'outbound',
      ingress: isIngress,
      cluster: config.cluster,
      tls: useTls,
      ...(egress !== undefined ? { egress: { port: egress.port, mode: egress.mode } } : {}),
    };
    this.observeTcp = tcpObserver(ctx, 'outbound', config.name, destinationOfCluster(config.cluster).service);
    const isTcp = config.protocol === 'tcp';
    if (useTls) {
      const m = ctx.metrics.ingressTls(config.name);
      this.tlsMetrics = m;
      const certs = new IngressCertificates(config.tls as NonNullable<typeof config.tls>, {
        now: () => ctx.clock.epochMs(),
        onReloaded: (certificates) => {
          m.reload('ok');
          m.setExpiry(certificates.map((c) => ({ certFile: c.certFile, notAfter: new Date(c.notAfter) })));
          ctx.logger.info({ listener: config.name, certificates }, 'ingress TLS certificates reloaded');
        },
        onRejected: (p) => {
          m.reload('refused');
          ctx.logger.error({ listener: config.name, file: p.file, err: p.message }, `ingress TLS reload refused: ${p.file}: ${p.message}; the previous certificates stay in use`);
        },
      });
      this.certs = certs;
      this.server = this.createTlsServer(certs, isTcp);
    } else {
      this.server = net.createServer({ allowHalfOpen: isTcp, noDelay: true });
    }
    new ConnectionLimiter(ctx.limits.maxConnections, (c) =>
      ctx.logger.warn({ listener: config.name, client: c.remoteAddress }, 'connection refused: the listener is at its connection limit'),
    ).attach(this.server);
    if (!isTcp) {
      if (egress !== undefined) {
        this.egressLeases = new EgressLeases(ctx.appConnectTimeoutMs, ctx.appPool);
        this.pipeline = listenerPipeline(EGRESS_HTTP_STACK, ctx, this.site, this.egressLeases, () => this.conns.isDraining);
      } else {
        this.pipeline = listenerPipeline(OUTBOUND_STACK, ctx, this.site, new ClusterLeases(ctx.clusters, ctx.clock), () => this.conns.isDraining);
      }
    }
    if (isHttp2(config.protocol)) {
      if (this.site.ingress) {
        this.fieldGuard = new H2FieldGuard({
          onMalformed: () => ctx.logger.debug({ listener: config.name }, 'HTTP/2 stream reset: a malformed field'),
          onBroken: (reason) => ctx.logger.warn({ listener: config.name, reason }, 'HTTP/2 connection closed: its frames could not be followed'),
        });
      }
      this.h2server = this.createH2Server();
    }
    if (this.certs === null) {
      const h1 = config.protocol === 'http';
      this.server.on('connection', (socket: net.Socket) => {
        socket.on('error', () => {});
        this.serve(socket, h1);
      });
    }
  }

  /** A TLS server whose handshake picks the certificate by SNI and the protocol by ALPN. */
  private createTlsServer(certs: IngressCertificates, isTcp: boolean): tls.Server {
    const ctx = this.ctx;
    const name = this.config.name;
    const alpn = ingressAlpn(this.config.protocol);
    const server = tls.createServer({
      allowHalfOpen: isTcp,
      noDelay: true,
      // Set from the default pair at listen(); SNICallback serves the others.
      SNICallback: (servername, cb) => {
        try {
          cb(null, certs.contextFor(servername));
        } catch (err) {
          cb(err as Error);
        }
      },
      ...(alpn !== undefined ? { ALPNProtocols: alpn } : {}),
      // Node's default is 120 s: a client that opens TCP and never finishes its handshake should not hold a connection that long.
      handshakeTimeout: ctx.limits.tlsHandshakeTimeoutMs,
    });
    server.on('tlsClientError', (err, socket) => {
      // Node leaves the socket open after a handshake error when this event has a listener (a
      // handshake timeout included): without destroy() a stalled client would hold it forever.
      socket.destroy();
      this.tlsMetrics?.failure();
      ctx.logger.debug({ listener: name, err: err.message }, 'ingress TLS handshake failed');
    });
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      socket.on('error', () => {});
      this.tlsMetrics?.handshake();
      // No ALPN from the client: the listener's own protocol.
      const h1 = socket.alpnProtocol === 'http/1.1' || (socket.alpnProtocol === false && this.config.protocol === 'http');
      this.serve(socket, h1);
    });
    certs.on('changed', () => server.setSecureContext(certs.defaultContextOptions()));
    return server;
  }

  /** One accepted client connection (plain, or decrypted TLS). */
  private serve(socket: net.Socket, h1: boolean): void {
    if (this.conns.isDraining) {
      socket.destroy();
      return;
    }
    if (h1) {
      const t = this.conns.add(socket, true);
      t.h1 = serveHttp1(socket, {
        pipeline: this.pipeline!,
        site: this.site,
        peer: null,
        limits: this.ctx.limits,
        clock: this.ctx.clock,
        isDraining: () => this.conns.isDraining,
      });
    } else if (this.h2server !== null) {
      this.conns.add(socket, false);
      // The session is made synchronously by the emit: it takes this client's address then.
      this.pendingClient = socket.remoteAddress;
      if (this.fieldGuard !== null) this.fieldGuard.serve(this.h2server, socket);
      else this.h2server.emit('connection', socket);
      this.pendingClient = undefined;
    } else {
      this.relayTcp(socket);
    }
  }

  get name(): string {
    return this.config.name;
  }

  get port(): number {
    return boundPort(this.server);
  }

  async listen(): Promise<void> {
    if (this.certs !== null) {
      this.certs.load();
      this.tlsMetrics?.setExpiry(this.certs.status().certificates.map((c) => ({ certFile: c.certFile, notAfter: new Date(c.notAfter) })));
      (this.server as tls.Server).setSecureContext(this.certs.defaultContextOptions());
      this.certs.watch();
    }
    await listenOn(this.server, this.config.listen);
  }

  /** Ingress TLS: the certificates served and the last refused reload (for /config). */
  tlsStatus(): ReturnType<IngressCertificates['status']> | null {
    return this.certs?.status() ?? null;
  }

  private createH2Server(): http2.Http2Server {
    const limits = this.site.ingress ? EDGE_HTTP2_LIMITS : DEFAULT_HTTP2_LIMITS;
    const server = http2.createServer(http2ServerOptions(limits));
    const options: Http2StreamOptions = { pipeline: this.pipeline!, site: this.site, peer: null, clock: this.ctx.clock };
    const logger = this.ctx.logger;
    const name = this.config.name;
    server.on('session', (session) => {
      this.sessionOptions.set(session, { ...options, clientAddress: this.pendingClient });
      this.conns.addSession(session);
      session.on('error', () => {});
      guardSession(session, limits, this.ctx.clock, {
        onSessionClosed: (reason) => logger.debug({ listener: name, reason }, 'HTTP/2 session closed by its limits'),
      });
    });
    const serve = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void =>
      serveHttp2Stream(stream, headers, this.sessionOptions.get(stream.session as http2.Http2Session) ?? options);
    server.on('stream', this.fieldGuard !== null ? this.fieldGuard.guardStreams(serve) : serve);
    return server;
  }

  private relayTcp(socket: net.Socket): void {
    this.conns.add(socket, false);
    const cluster = this.ctx.clusters.get(this.config.cluster);
    if (cluster === undefined) {
      this.ctx.logger.warn({ listener: this.name, cluster: this.config.cluster }, 'TCP relay: unknown cluster');
      socket.destroy();
      return;
    }
    const begin = this.observeTcp;
    connectWithFailover<Duplex>(
      cluster,
      (ep, done) => ep.connectTcp()(done),
      (f, upstream, ep) => {
        if (f !== null || upstream === null || ep === null) {
          this.ctx.logger.warn({ listener: this.name, reason: f?.reason, err: f?.message }, 'TCP relay: no upstream');
          socket.destroy();
          return;
        }
        if (socket.destroyed) {
          ep.load.pending--;
          upstream.destroy();
          return;
        }
        // The relay counts as load on its endpoint for as long as it is open.
        const done = begin(undefined, ep.config.identity);
        relay(socket, upstream, (r) => {
          ep.load.pending--;
          done(r);
        });
      },
    );
  }

  async drain(timeoutMs: number): Promise<void> {
    this.server.close();
    await this.conns.drain(timeoutMs);
    this.close();
  }

  close(): void {
    this.certs?.close();
    this.server.close();
    this.conns.destroyAll();
    this.egressLeases?.close();
  }
}
