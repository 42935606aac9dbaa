import http from 'node:http';
import type { HostPort } from '../../api/common.js';
import { boundPort, listenOn } from '../listeners/bind.js';
import type { TapHub } from '../tap/tap-hub.js';
import { serveTap } from '../tap/tap-endpoint.js';

/** What the admin endpoints read from the running proxy. */
export interface AdminSource {
  isReady(): boolean;
  metricsText(): Promise<string>;
  metricsContentType: string;
  /** JSON-serialisable config dump (no secrets). */
  configDump(): unknown;
  /** POST /drain: starts a drain (the process keeps running until its owner stops it). */
  drain?(): void;
  /** GET /tap streams the requests published here (src/api/tap.ts); absent: 404. */
  tap?: TapHub;
}

/**
 * Loopback admin listener: GET /live (always 200 while the process runs), GET /ready (200
 * once serving), GET /metrics (Prometheus text), GET /config (JSON), POST /drain, GET /tap
 * (live requests as NDJSON).
 */
export class AdminServer {
  private readonly server: http.Server;

  constructor(
    private readonly listenAt: HostPort,
    private readonly source: AdminSource,
  ) {
    this.server = http.createServer((req, res) => this.handle(req, res));
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

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string): void => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method === 'GET' && path === '/live') return send(200, 'text/plain', 'live\n');
    if (req.method === 'GET' && path === '/ready') {
      return this.source.isReady() ? send(200, 'text/plain', 'ready\n') : send(503, 'text/plain', 'not ready\n');
    }
    if (req.method === 'GET' && path === '/metrics') {
      this.source.metricsText().then(
        (text) => send(200, this.source.metricsContentType, text),
        (err: Error) => send(500, 'text/plain', `${err.message}\n`),
      );
      return;
    }
    if (req.method === 'GET' && path === '/config') {
      return send(200, 'application/json', `${JSON.stringify(this.source.configDump(), null, 2)}\n`);
    }
    if (req.method === 'GET' && path === '/tap' && this.source.tap !== undefined) return serveTap(req, res, this.source.tap);
    if (req.method === 'POST' && path === '/drain' && this.source.drain !== undefined) {
      this.source.drain();
      return send(202, 'text/plain', 'draining\n');
    }
    send(404, 'text/plain', 'not found\n');
  }
}
