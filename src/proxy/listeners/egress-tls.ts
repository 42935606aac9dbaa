import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { OutboundListenerConfig } from '../../api/bootstrap.js';
import { egressRequest } from '../egress/egress-request.js';
import type { EgressTable } from '../egress/egress-table.js';
import { MAX_CLIENT_HELLO, readClientHelloSni } from '../egress/sni.js';
import { tcpConnector } from '../pool/connect.js';
import { relay } from '../tcp/relay.js';
import { boundPort, listenOn } from './bind.js';
import { ConnectionSet } from './connections.js';
import type { Listener, ListenerContext } from './context.js';
import { tcpObserver } from './tcp-observer.js';

/** How long a client may take to send its ClientHello before the connection is reset. */
export const CLIENT_HELLO_TIMEOUT_MS = 10_000;

/**
 * TLS egress (mesh file `spec.outbound.ports` with protocol tls): TLS passthrough routed by
 * SNI. The proxy reads the client's ClientHello (never decrypts: the app's TLS session is with
 * the outside service itself), finds the ExternalService whose hostname matches the server
 * name on this port, checks its AuthorizationPolicies with this workload's identity, connects
 * (to the ExternalService's endpoints, else the server name) and relays the bytes, the
 * ClientHello first. Undeclared names are reset in registryOnly mode and relayed in allowAny
 * mode; a ClientHello without a server name is always reset (there is nowhere to send it).
 */
export class EgressTlsListener implements Listener {
  readonly direction = 'outbound' as const;
  private readonly server: net.Server;
  private readonly conns = new ConnectionSet();
  private readonly observe;
  private readonly destPort: number;
  private readonly mode: 'allowAny' | 'registryOnly';

  constructor(
    readonly config: OutboundListenerConfig,
    private readonly ctx: ListenerContext,
    private readonly table: EgressTable,
  ) {
    const e = config.egress;
    if (e === undefined || e.protocol !== 'tls') throw new Error(`listener ${config.name} is not a TLS egress listener`);
    this.destPort = e.port;
    this.mode = e.mode;
    this.observe = tcpObserver(ctx, 'outbound', config.name, `egress:${e.port}`);
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true });
    this.server.on('connection', (socket) => {
      socket.on('error', () => {});
      if (this.conns.isDraining) {
        socket.destroy();
        return;
      }
      this.conns.add(socket, false);
      this.accept(socket);
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

  /** Waits for the whole ClientHello, then decides. */
  private accept(socket: net.Socket): void {
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => this.refuse(socket, 'unregistered', 'denied', 'no ClientHello in time'), CLIENT_HELLO_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const r = readClientHelloSni(buf);
      if (r.kind === 'more' && buf.length <= MAX_CLIENT_HELLO) return;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.pause();
      if (r.kind !== 'sni') {
        this.refuse(socket, 'unregistered', 'denied', r.kind === 'invalid' ? r.reason : r.kind === 'none' ? 'ClientHello without a server name' : 'ClientHello too large');
        return;
      }
      this.route(socket, r.name, buf);
    };
    // A client that half-closes before its ClientHello is complete will never finish it.
    const onEnd = (): void => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.destroy();
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', () => clearTimeout(timer));
  }

  private route(socket: net.Socket, sni: string, hello: Buffer): void {
    const entry = this.table.lookup(this.destPort, 'tls', sni);
    if (entry === null) {
      if (this.mode === 'registryOnly') {
        this.refuse(socket, 'unregistered', 'denied', `${sni} is not declared as an ExternalService`);
        return;
      }
      this.ctx.metrics.egressConnection(this.name, 'passthrough', 'allowed');
      this.connect(socket, [{ host: sni, port: this.destPort }], 0, hello, `${sni}:${this.destPort}`);
      return;
    }
    const policy = entry.policy;
    if (policy !== null) {
      const req = egressRequest(this.ctx.node.identity, sni);
      const d = policy.authorizer.authorize(req);
      d.counter.inc();
      if (!d.allowed) {
        this.refuse(socket, entry.label, 'unauthorized', `refused by ${d.label}: ${d.reason}`);
        return;
      }
      // Rate limits count connections here (one TLS session may carry many requests).
      if (policy.enforce.length > 0) {
        const over = policy.admit(req, this.ctx.clock.now());
        if (over !== null) {
          this.refuse(socket, entry.label, 'rate-limited', `over the rate limit of ${over.label}`);
          return;
        }
      }
    }
    this.ctx.metrics.egressConnection(this.name, entry.label, 'allowed');
    this.connect(socket, entry.config.endpoints ?? [{ host: sni, port: this.destPort }], 0, hello, entry.label);
  }

  /** Tries the addresses in order; the first that connects gets the ClientHello and the relay. */
  private connect(socket: net.Socket, addresses: readonly { host: string; port: number }[], i: number, hello: Buffer, destination: string): void {
    const a = addresses[i];
    if (a === undefined || socket.destroyed) {
      socket.resetAndDestroy();
      return;
    }
    tcpConnector(a.host, a.port, this.ctx.appConnectTimeoutMs, true)((f, upstream: Duplex | null) => {
      if (f !== null || upstream === null) {
        this.ctx.logger.warn({ listener: this.name, destination, address: `${a.host}:${a.port}`, err: f?.message }, 'TLS egress: connect failed');
        this.connect(socket, addresses, i + 1, hello, destination);
        return;
      }
      if (socket.destroyed) {
        upstream.destroy();
        return;
      }
      const done = this.observe(undefined, destination);
      upstream.write(hello);
      socket.resume();
      relay(socket, upstream, done);
    });
  }

  /** A refused connection is reset (RST), logged and counted with its destination. */
  private refuse(socket: net.Socket, destination: string, decision: 'denied' | 'unauthorized' | 'rate-limited', why: string): void {
    this.ctx.metrics.egressConnection(this.name, destination, decision);
    this.ctx.logger.info({ listener: this.name, destination, decision, why }, 'TLS egress refused');
    const log = this.ctx.accessLog;
    if (log.enabled) {
      log.write({ direction: 'outbound', listener: this.name, protocol: 'tcp', upstream: destination, reason: decision === 'denied' ? 'egress-denied' : decision, bytesIn: 0, bytesOut: 0, durationMs: 0, startedAt: this.ctx.clock.epochMs() });
    }
    socket.resetAndDestroy();
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
