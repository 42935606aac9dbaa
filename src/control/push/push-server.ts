import { createSecureServer } from 'node:http2';
import type { Http2SecureServer, Http2ServerRequest, Http2ServerResponse, ServerHttp2Session } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { HostPort } from '../../api/common.js';
import {
  PUSH_PATH_CERTIFICATE,
  PUSH_PATH_ROTATE,
  PUSH_PATH_STREAM,
  PUSH_PING_INTERVAL_MS,
} from '../../api/push.js';
import type { CertificateResponse, ErrorBody } from '../../api/push.js';
import { TrellisError } from '../../errors.js';
import type { CertificateAuthority } from '../../identity/ca.js';
import { isInTrustDomain } from '../../identity/spiffe.js';
import { secureContextOptions, verifyPeer } from '../../identity/tls.js';
import type { TlsCredentials } from '../../identity/tls.js';
import { certificateRequestSchema, parseJson } from '../api/schemas.js';
import type { SnapshotCache } from '../compiler/snapshot-cache.js';
import { listenOn, urlOf } from '../listen.js';
import type { Registry } from '../registry/registry.js';
import type { Store } from '../store/store.js';
import type { ProxyTracker } from './proxy-tracker.js';
import { PushStream } from './push-stream.js';
import { sendError, sendJson } from './respond.js';
import { checkRenewal, expiredClientCertificate, renewalGraceMs } from './renewal.js';
import type { BootstrapTokens } from './tokens.js';

/** Who is asking for a certificate: a new proxy with its token, or a proxy with its current or expired certificate. */
type Caller = { kind: 'token' } | { kind: 'certificate'; identity: string } | { kind: 'expired'; der: Buffer };

export interface PushServerDeps {
  trustDomain: string;
  ca: CertificateAuthority;
  certTtlMs: number;
  tokens: BootstrapTokens;
  store: Store;
  registry: Registry;
  snapshots: SnapshotCache;
  tracker: ProxyTracker;
  clock: () => number;
  logger: Logger;
  pingIntervalMs?: number;
  /** How long after expiry a proxy's last certificate may still renew it. Default renewalGraceMs(certTtlMs). */
  renewalGraceMs?: number;
  /** Counters hook (metrics). */
  onEvent?: (event: 'certificate-issued' | 'snapshot-pushed') => void;
}

const MAX_BODY = 64 * 1024;

/**
 * The push API (src/api/push.ts) on HTTP/2 over TLS. TLS asks for a client certificate but
 * does not insist (a new proxy has none yet); each path decides: /certificate wants a
 * bootstrap token, /rotate a verified certificate of the node's identity (or its last one,
 * expired within the grace period: renewal.ts), /stream a verified certificate.
 */
export class PushServer {
  readonly url: string;
  private readonly streams = new Map<string, PushStream>();
  private readonly sessions = new Set<ServerHttp2Session>();

  private constructor(
    private readonly server: Http2SecureServer,
    private readonly deps: PushServerDeps,
    address: HostPort,
  ) {
    this.url = urlOf('https', address);
  }

  static async start(listen: HostPort, creds: TlsCredentials, deps: PushServerDeps): Promise<PushServer> {
    const server = createSecureServer({
      ...secureContextOptions(creds, deps.ca.trustBundlePem()),
      requestCert: true,
      rejectUnauthorized: false,
      ALPNProtocols: ['h2'],
    });
    const address = await listenOn(server, listen, 'push');
    const push = new PushServer(server, deps, address);
    server.on('session', (s: ServerHttp2Session) => {
      push.sessions.add(s);
      s.on('close', () => push.sessions.delete(s));
      s.on('error', () => {});
    });
    server.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => push.handle(req, res));
    server.on('tlsClientError', (err) => deps.logger.debug({ err: err.message }, 'push: TLS handshake failed'));
    return push;
  }

  /** Replaces the server certificate for new connections (rotation). */
  setCredentials(creds: TlsCredentials): void {
    this.server.setSecureContext(secureContextOptions(creds, this.deps.ca.trustBundlePem()));
  }

  /** Sends the latest snapshot to each listed node that has a stream open. */
  push(nodeIds: Iterable<string>): void {
    for (const id of nodeIds) {
      const compiled = this.deps.snapshots.get(id);
      const stream = this.streams.get(id);
      if (compiled !== undefined && stream !== undefined) stream.sendSnapshot(compiled);
    }
  }

  connectedCount(): number {
    return this.streams.size;
  }

  async close(): Promise<void> {
    for (const s of this.streams.values()) s.close();
    this.streams.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sessions) s.destroy();
    await closed;
  }

  /** Expected SPIFFE ID of a node: the registry's, else the one its certificate was issued for. */
  expectedIdentity(nodeId: string): string | undefined {
    return this.deps.registry.node(nodeId)?.identity ?? this.deps.store.nodeIdentities().get(nodeId);
  }

  private handle(req: Http2ServerRequest, res: Http2ServerResponse): void {
    const path = req.url.split('?')[0];
    if (req.method !== 'POST' || (path !== PUSH_PATH_CERTIFICATE && path !== PUSH_PATH_ROTATE && path !== PUSH_PATH_STREAM)) {
      sendError(res, 404, 'TRELLIS_E_NOT_FOUND', `no ${req.method} ${path} on the push API`);
      return;
    }
    const socket = req.stream.session?.socket as TLSSocket | undefined;
    const peer = socket !== undefined ? verifyPeer(socket, (id) => isInTrustDomain(id, this.deps.trustDomain)) : null;
    if (path === PUSH_PATH_STREAM) {
      if (peer === null) {
        sendError(res, 401, 'TRELLIS_E_UNAUTHORIZED', 'the stream needs a client certificate of this mesh');
        return;
      }
      this.openStream(req, res, peer);
      return;
    }
    let caller: Caller = { kind: 'token' };
    if (path === PUSH_PATH_ROTATE) {
      const expired = peer === null && socket !== undefined ? expiredClientCertificate(socket) : null;
      if (peer === null && expired === null) {
        sendError(res, 401, 'TRELLIS_E_UNAUTHORIZED', 'rotation needs the current client certificate of this mesh');
        return;
      }
      caller = peer !== null ? { kind: 'certificate', identity: peer } : { kind: 'expired', der: expired as Buffer };
    }
    readBody(req)
      .then((body) => this.certificate(caller, body))
      .then(
        (r) => sendJson(res, r.status, r.body),
        (err: unknown) => {
          this.deps.logger.error({ err }, 'push: certificate request failed');
          sendError(res, 500, 'TRELLIS_E_IDENTITY', 'internal error');
        },
      );
  }

  /**
   * Who may this caller sign for? A bootstrap token names its identity; a current certificate
   * must carry the node's registered identity; an expired one must pass renewal (below).
   */
  private async authorize(caller: Caller, nodeId: string, token: string | undefined, now: number): Promise<{ ok: true; identity: string } | { ok: false; status: number; message: string }> {
    if (caller.kind === 'token') {
      if (token === undefined) return { ok: false, status: 401, message: 'token: a bootstrap token is required' };
      const t = await this.deps.tokens.consume(token, nodeId, now);
      return t.ok ? t : { ok: false, status: 401, message: t.reason };
    }
    const expected = this.expectedIdentity(nodeId);
    if (caller.kind === 'certificate') {
      if (expected !== caller.identity) return { ok: false, status: 403, message: `certificate ${caller.identity} may not act for node ${nodeId}` };
      return { ok: true, identity: caller.identity };
    }
    const r = checkRenewal(caller.der, {
      nodeId,
      expectedIdentity: expected,
      trustBundlePem: this.deps.ca.trustBundlePem(),
      now,
      graceMs: this.deps.renewalGraceMs ?? renewalGraceMs(this.deps.certTtlMs),
      renewableSerials: this.deps.tracker.get(nodeId)?.renewableSerials ?? null,
    });
    if (!r.ok) {
      this.deps.logger.warn({ nodeId, reason: r.reason }, 'push: renewal with an expired certificate refused');
      return { ok: false, status: r.status, message: r.reason };
    }
    this.deps.logger.warn({ nodeId, serial: r.serial, expiredAt: r.notAfter }, 'push: renewing an expired certificate within the grace period');
    return { ok: true, identity: r.identity };
  }

  private async certificate(caller: Caller, body: string | null): Promise<{ status: number; body: CertificateResponse | ErrorBody }> {
    const err = (status: number, code: string, message: string) => ({ status, body: { error: { code, message } } });
    if (body === null) return err(413, 'TRELLIS_E_CONFIG', `body larger than ${MAX_BODY} bytes`);
    const parsed = parseJson(certificateRequestSchema, body);
    if (!parsed.ok) return err(400, 'TRELLIS_E_CONFIG', parsed.message);
    const { nodeId, csrPem, token } = parsed.value;
    const auth = await this.authorize(caller, nodeId, token, this.deps.clock());
    if (!auth.ok) return err(auth.status, 'TRELLIS_E_UNAUTHORIZED', auth.message);
    const identity = auth.identity;
    try {
      const issued = await this.deps.ca.signCsr(csrPem, identity, this.deps.certTtlMs);
      await this.deps.store.putNodeIdentity(nodeId, identity);
      // Recorded when signed: `check` and GET /proxies read it before the proxy reports it.
      this.deps.tracker.issued(nodeId, identity, issued.notAfter, issued.serial);
      this.deps.onEvent?.('certificate-issued');
      this.deps.logger.info({ nodeId, identity, serial: issued.serial, notAfter: issued.notAfter }, 'issued workload certificate');
      return {
        status: 200,
        body: { certChainPem: issued.certChainPem, trustBundlePem: this.deps.ca.trustBundlePem(), notAfter: issued.notAfter.toISOString() },
      };
    } catch (e) {
      if (e instanceof TrellisError) return err(400, e.code, e.message);
      throw e;
    }
  }

  private openStream(req: Http2ServerRequest, res: Http2ServerResponse, peer: string): void {
    const stream = new PushStream(req, res, {
      peer,
      clock: this.deps.clock,
      pingIntervalMs: this.deps.pingIntervalMs ?? PUSH_PING_INTERVAL_MS,
      logger: this.deps.logger,
      tracker: this.deps.tracker,
      authorize: (nodeId) => this.expectedIdentity(nodeId) === peer,
      current: (nodeId) => this.deps.snapshots.get(nodeId),
      catchUp: async () => {
        await this.deps.store.sync();
        await this.deps.snapshots.idle();
      },
      onPushed: () => this.deps.onEvent?.('snapshot-pushed'),
      onOpen: (nodeId, s) => {
        const old = this.streams.get(nodeId);
        this.streams.set(nodeId, s);
        if (old !== undefined && old !== s) old.close();
      },
      onClose: (nodeId, s) => {
        if (this.streams.get(nodeId) === s) {
          this.streams.delete(nodeId);
          const st = this.deps.tracker.get(nodeId);
          if (st !== undefined) st.connected = false;
        }
      },
    });
    stream.start();
  }
}

/** The request body as text, or null when over the limit. */
function readBody(req: Http2ServerRequest): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) over = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(over ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
