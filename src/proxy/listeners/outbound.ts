import http2 from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { OutboundListenerConfig } from '../../api/bootstrap.js';
import { isHttp2 } from '../../api/common.js';
import { serveHttp1 } from '../http1/server.js';
import { serveHttp2Stream } from '../http2/server-stream.js';
import type { ListenerSite } from '../pipeline/exchange.js';
import type { Pipeline } from '../pipeline/stage.js';
import { ClusterLeases } from '../pool/cluster-source.js';
import { connectWithFailover } from '../pool/failover.js';
import { OUTBOUND_STACK } from '../stages/index.js';
import { relay } from '../tcp/relay.js';
import { boundPort, listenOn } from './bind.js';
import { ConnectionSet } from './connections.js';
import type { Listener, ListenerContext } from './context.js';
import { listenerPipeline } from './stack.js';
import { tcpObserver } from './tcp-observer.js';
import { destinationOfCluster } from '../../telemetry/request-metrics.js';

/**
 * Outbound: a plain listener through which the app (or, for an ingress, a client outside the
 * mesh) reaches one service. HTTP/1 and HTTP/2 (h2c) connections are framed by their codec and
 * every request goes through the outbound stack (stages/index.ts: routes, faults, timeouts,
 * retries, mirrors, the balancer's endpoint over mTLS); tcp is relayed to one endpoint (ALPN
 * trellis-tcp).
 */
export class OutboundListener implements Listener {
  readonly direction = 'outbound' as const;
  private readonly server: net.Server;
  private readonly conns = new ConnectionSet();
  private readonly h2server: http2.Http2Server | null = null;
  private readonly pipeline: Pipeline | null = null;
  private readonly site: ListenerSite;
  private readonly observeTcp;

  constructor(
    readonly config: OutboundListenerConfig,
    private readonly ctx: ListenerContext,
  ) {
    this.site = { name: config.name, direction: 'outbound', ingress: config.ingress === true, cluster: config.cluster };
    this.observeTcp = tcpObserver(ctx, 'outbound', config.name, destinationOfCluster(config.cluster).service);
    const isTcp = config.protocol === 'tcp';
    this.server = net.createServer({ allowHalfOpen: isTcp, noDelay: true });
    if (!isTcp) {
      this.pipeline = listenerPipeline(OUTBOUND_STACK, ctx, this.site, new ClusterLeases(ctx.clusters, ctx.clock), () => this.conns.isDraining);
    }
    if (isHttp2(config.protocol)) this.h2server = this.createH2Server();
    const h1 = config.protocol === 'http';
    this.server.on('connection', (socket) => {
      socket.on('error', () => {});
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
          limits: ctx.limits,
          clock: ctx.clock,
          isDraining: () => this.conns.isDraining,
        });
      } else if (this.h2server !== null) {
        this.conns.add(socket, false);
        this.h2server.emit('connection', socket);
      } else {
        this.relayTcp(socket);
      }
    });
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

  private createH2Server(): http2.Http2Server {
    const server = http2.createServer();
    const options = { pipeline: this.pipeline!, site: this.site, peer: null, clock: this.ctx.clock };
    server.on('session', (session) => {
      this.conns.addSession(session);
      session.on('error', () => {});
    });
    server.on('stream', (stream, headers) => serveHttp2Stream(stream, headers, options));
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
    this.server.close();
    this.conns.destroyAll();
  }
}
