import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as HttpsServer } from 'node:https';
import type { Logger } from 'pino';
import type { HostPort } from '../../api/common.js';
import { TrellisError } from '../../errors.js';
import { secureContextOptions } from '../../identity/tls.js';
import type { TlsCredentials } from '../../identity/tls.js';
import { decideAccess } from '../auth/principal.js';
import type { Principal } from '../auth/principal.js';
import { listenOn, urlOf } from '../listen.js';
import { ResourceValidationError } from '../resources/resource-store.js';
import type { ApiBackend } from './api-backend.js';
import { HttpError } from './http-error.js';
import { matchRoute } from './router.js';
import { API_ROUTES, json } from './routes.js';

export type { ApiAuth, ApiBackend } from './api-backend.js';
export { HttpError };

export interface ApiServerOptions {
  backend: ApiBackend;
  logger: Logger;
  /** Who is calling (src/control/auth/authenticate.ts). */
  authenticate(req: IncomingMessage): Principal;
  /** Serve HTTPS with these credentials (the control plane's certificate); null: plain HTTP. */
  tls: { creds: TlsCredentials; trustBundlePem: string[] } | null;
  /** Requests are answered once this resolves (the control plane finishes starting with the address in hand). */
  ready?: Promise<void>;
}

/**
 * The control plane's REST API (src/api/registry.ts, src/api/credentials.ts) on node:http, or
 * node:https off loopback (./api-tls.ts). Every request goes through the same three steps: find
 * its route in API_ROUTES (404 when none), decide whether the caller may use it (401 with no
 * acceptable credential, 403 with one that is not enough), run the handler. Over HTTPS the
 * server asks for a client certificate without insisting: joined hosts' agents present theirs,
 * everyone else a bearer token.
 */
export class ApiServer {
  private constructor(
    private readonly server: Server | HttpsServer,
    readonly url: string,
    private readonly trustBundlePem: string[],
  ) {}

  static async start(listen: HostPort, o: ApiServerOptions): Promise<ApiServer> {
    const ready = o.ready ?? Promise.resolve();
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      ready.then(() => dispatch(req, res, o)).catch((err: unknown) => answerError(req, res, err, o.logger));
    };
    const server =
      o.tls === null
        ? createServer(handler)
        : createHttpsServer({ ...secureContextOptions(o.tls.creds, o.tls.trustBundlePem), requestCert: true, rejectUnauthorized: false }, handler);
    server.keepAliveTimeout = 5000;
    if (o.tls !== null) server.on('tlsClientError', (err: Error) => o.logger.debug({ err: err.message }, 'api: TLS handshake failed'));
    const address = await listenOn(server, listen, 'api');
    return new ApiServer(server, urlOf(o.tls === null ? 'http' : 'https', address), o.tls?.trustBundlePem ?? []);
  }

  get tls(): boolean {
    return this.url.startsWith('https:');
  }

  /** Replaces the HTTPS certificate for new connections (rotation); nothing to do over HTTP. */
  setCredentials(creds: TlsCredentials): void {
    if ('setSecureContext' in this.server) this.server.setSecureContext(secureContextOptions(creds, this.trustBundlePem));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

async function dispatch(req: IncomingMessage, res: ServerResponse, o: ApiServerOptions): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  const method = req.method ?? 'GET';
  const match = matchRoute(API_ROUTES, method, url.pathname);
  if (match === undefined) throw new HttpError(404, 'TRELLIS_E_NOT_FOUND', `no route ${method} ${url.pathname}`);
  const principal = o.authenticate(req);
  const decision = decideAccess(match.route.access, principal);
  if (!decision.ok) {
    // The body is not read: drain it so the connection stays usable.
    req.resume();
    if (decision.status === 401) res.setHeader('www-authenticate', 'Bearer realm="trellis"');
    throw new HttpError(decision.status, 'TRELLIS_E_UNAUTHORIZED', decision.message);
  }
  await match.route.handle({ req, res, url, params: match.params, principal, b: o.backend });
}

function answerError(req: IncomingMessage, res: ServerResponse, err: unknown, logger: Logger): void {
  if (res.headersSent) {
    logger.warn({ err, method: req.method, url: req.url }, 'api: request failed after its answer started');
    res.destroy();
    return;
  }
  if (err instanceof ResourceValidationError) {
    json(res, 400, { error: { code: err.code, message: err.message, issues: err.issues } });
  } else if (err instanceof HttpError) {
    json(res, err.status, { error: { code: err.code, message: err.message } });
  } else if (err instanceof TrellisError) {
    // The store (etcd) being away is this replica's trouble, not the caller's: 503, so agents try another replica.
    json(res, err.code === 'TRELLIS_E_STORE' ? 503 : 400, { error: { code: err.code, message: err.message } });
  } else {
    logger.error({ err, method: req.method, url: req.url }, 'api: request failed');
    json(res, 500, { error: { code: 'TRELLIS_E_INTERNAL', message: 'internal error' } });
  }
}
