import http from 'node:http';
import type { HostPort } from '../../api/common.js';
import { boundPort, listenOn } from '../listeners/bind.js';
import type { TapHub } from '../tap/tap-hub.js';
import { serveTap } from '../tap/tap-endpoint.js';
import { bearerMatches } from './admin-token.js';

/** What the admin endpoints read from the running proxy. */
export interface AdminSource {
  isReady(): boolean;
  /**
   * Why the proxy is not ready, the body of a 503 from /ready: `starting`, `draining`,
   * `certificate expired`. Absent: `not ready`.
   */
  notReadyReason?(): string;
  metricsText(): Promise<string>;
  metricsContentType: string;
  /** JSON-serialisable config dump (no secrets). */
  configDump(): unknown;
  /**
   * Bearer token that state-changing calls (POST /drain) must carry (admin-token.ts).
   * Absent: they are all refused with 401.
   */
  adminToken?: string;
  /** POST /drain: starts a drain (the process keeps running until its owner stops it). */
  drain?(): void;
  /** GET /tap streams the requests published here (src/api/tap.ts); absent: 404. */
  tap?: TapHub;
}

/**
 * Loopback admin listener: GET /live (always 200 while the process runs), GET /ready (200
 * once serving, else 503 with the reason), GET /metrics (Prometheus text), GET /config (JSON),
 * GET /tap (live requests as NDJSON), and POST /drain, which needs the admin token (401
 * without it; nothing changes). Read-only endpoints need no credential (yet).
 */
export class AdminServer {
  private readonly server: http.Server;

  constructor(
    private readonly listenAt: HostPort,
    private readonly source: AdminSource,
  ) {
    this.server = http.createServer((req, res) => handleAdminRequest(this.source, req, res, false));
    this.server.keepAliveTimeout = 5_000;
  }

  get port(): number {
    return boundPort(this.server);
  }

  get url(): string {
    return `http://${this.listenAt.host.includes(':') ? `[${this.listenAt.host}]` : this.listenAt.host}:${this.port}`;
  }

  listen(): Promise<void> {
    return listenOn(this.server, this.listenAt);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

/**
 * The admin endpoints over one request. `readOnly` (the remote listener, remote-admin-server.ts)
 * leaves out POST /drain: changing a proxy's state stays a loopback call with the admin token.
 */
export function handleAdminRequest(source: AdminSource, req: http.IncomingMessage, res: http.ServerResponse, readOnly: boolean): void {
  const path = (req.url ?? '/').split('?')[0];
  const send = (status: number, type: string, body: string): void => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(body);
  };
  if (req.method === 'GET' && path === '/live') return send(200, 'text/plain', 'live\n');
  if (req.method === 'GET' && path === '/ready') {
    if (source.isReady()) return send(200, 'text/plain', 'ready\n');
    return send(503, 'text/plain', `${source.notReadyReason?.() ?? 'not ready'}\n`);
  }
  if (req.method === 'GET' && path === '/metrics') {
    source.metricsText().then(
      (text) => send(200, source.metricsContentType, text),
      (err: Error) => send(500, 'text/plain', `${err.message}\n`),
    );
    return;
  }
  if (req.method === 'GET' && path === '/config') {
    return send(200, 'application/json', `${JSON.stringify(source.configDump(), null, 2)}\n`);
  }
  if (req.method === 'GET' && path === '/tap' && source.tap !== undefined) return serveTap(req, res, source.tap);
  if (!readOnly && req.method === 'POST' && path === '/drain' && source.drain !== undefined) {
    if (!bearerMatches(req.headers.authorization, source.adminToken)) {
      res.setHeader('www-authenticate', 'Bearer realm="trellis-proxy-admin"');
      return send(401, 'text/plain', 'unauthorized: POST /drain needs the admin token of this proxy (authorization: Bearer ...)\n');
    }
    source.drain();
    return send(202, 'text/plain', 'draining\n');
  }
  send(404, 'text/plain', 'not found\n');
}
