import http2 from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { OutboundListenerConfig } from '../../api/bootstrap.js';
import { isHttp2 } from '../../api/common.js';
import { serveHttp1 } from '../http1/server.js';
import { forwardStream } from '../http2/forward.js';
import { ClusterHttp1Upstream } from '../pool/cluster-upstream.js';
import { connectWithFailover } from '../pool/failover.js';
import { ClusterHttp2Upstream } from '../pool/h2-upstream.js';
import { relay } from '../tcp/relay.js';
import type { Http1Upstream } from '../http1/types.js';
import type { Http2Upstream } from '../http2/types.js';
import { ServicePlanner } from '../traffic/planner.js';
import { ConnectionSet } from './connections.js';
import type { Listener, ListenerContext } from './context.js';
import { STRIP_PEER_IDENTITY } from './context.js';
import { exchangeObserver } from './observe.js';
import { boundPort, listenOn } from './bind.js';

/**
 * Outbound: a plain loopback listener through which the app reaches one cluster. h1 goes
 * through the forwarder with the cluster's balancer and mTLS pools; h2/grpc through an h2c
 * server, one endpoint picked per stream; tcp is relayed to one endpoint (ALPN trellis-tcp).
 */
export class OutboundListener implements Listener {
  readonly direction = 'outbound' as const;
  private readonly server: net.Server;
  private readonly conns = new ConnectionSet();
  private readonly h2server: http2.Http2Server | null = null;
  private readonly observe;

  constructor(
    readonly config: OutboundListenerConfig,
    private readonly ctx: ListenerContext,
  ) {
    this.observe = exchangeObserver(ctx, 'outbound', config.name, config.cluster);
    const isTcp = config.protocol === 'tcp';
    this.server = net.createServer({ allowHalfOpen: isTcp, noDelay: true });
    if (isHttp2(config.protocol)) this.h2server = this.createH2Server();
    // Routes (HTTPRoute/GRPCRoute attached to this service) are applied here, on the caller's
    // side, as GAMMA meshes do: the planner picks a backend cluster per request.
    const h1 = config.protocol === 'http' ? new ClusterHttp1Upstream(ctx.clusters, config.cluster, ctx.now) : null;
    const h1Planner =
      h1 === null
        ? null
        : new ServicePlanner<Http1Upstream>(ctx.clusters, config.cluster, (name) => (name === config.cluster ? h1 : new ClusterHttp1Upstream(ctx.clusters, name, ctx.now)));
    const onExchange = this.observe.http1(undefined);
    this.server.on('connection', (socket) => {
      socket.on('error', () => {});
      if (this.conns.isDraining) {
        socket.destroy();
        return;
      }
      if (h1 !== null) {
        const t = this.conns.add(socket, true);
        t.h1 = serveHttp1(socket, {
          upstream: h1,
          planner: h1Planner!.plan,
          limits: ctx.limits,
          stripRequestHeaders: STRIP_PEER_IDENTITY,
          onExchange,
          tracer: ctx.tracer,
          isDraining: () => this.conns.isDraining,
          now: ctx.now,
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
    const upstream = new ClusterHttp2Upstream(this.ctx.clusters, this.config.cluster, this.ctx.now);
    const planner = new ServicePlanner<Http2Upstream>(this.ctx.clusters, this.config.cluster, (name) =>
      name === this.config.cluster ? upstream : new ClusterHttp2Upstream(this.ctx.clusters, name, this.ctx.now),
    );
    const onStream = this.observe.http2(undefined);
    server.on('session', (session) => {
      this.conns.addSession(session);
      session.on('error', () => {});
    });
    server.on('stream', (stream, headers) => {
      forwardStream(stream, headers, { upstream, planner: planner.plan, stripRequestHeaders: STRIP_PEER_IDENTITY, onStream, tracer: this.ctx.tracer, now: this.ctx.now });
    });
    return server;
  }

  private relayTcp(socket: net.Socket): void {
    this.conns.add(socket, false);
    const started = this.ctx.now();
    const startedAt = Date.now();
    const cluster = this.ctx.clusters.get(this.config.cluster);
    if (cluster === undefined) {
      this.ctx.logger.warn({ listener: this.name, cluster: this.config.cluster }, 'TCP relay: unknown cluster');
      socket.destroy();
      return;
    }
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
        const done = this.observe.tcp(undefined, ep.config.identity, startedAt, started);
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
