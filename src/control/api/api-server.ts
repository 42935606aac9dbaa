import { timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { HostPort } from '../../api/common.js';
import { API_PREFIX } from '../../api/registry.js';
import type { AgentReport, CheckReport, EndpointView, ProxyView, ServiceView, WorkloadView } from '../../api/registry.js';
import type { ApplyResult, ResourceKind, ResourceView } from '../../api/resources.js';
import type { ProxySnapshot } from '../../api/snapshot.js';
import type { TraceSummaryView, TraceView } from '../../api/traces.js';
import { kindFromName } from '../../config/resources/validate.js';
import { ResourceValidationError } from '../resources/resource-store.js';
import { TrellisError } from '../../errors.js';
import { listenOn, urlOf } from '../listen.js';
import { prometheusTargets } from './prometheus-sd.js';
import { isOtlpTracesPath, receiveOtlpTraces, traceLimit } from './otlp-traces.js';
import type { TraceReceiver } from './otlp-traces.js';
import { agentReportSchema, parseJson, tokenRequestSchema } from './schemas.js';
import { HttpError } from './http-error.js';
import type { StatsService } from '../stats/stats-service.js';
import { serveTap } from '../tap/tap-api.js';
import type { AdminDispatcherFor } from '../proxy-admin/admin-dispatcher.js';
import { serveDashboard } from '../dashboard/serve-dashboard.js';

/** What the REST API needs from the control plane. */
export interface ApiBackend {
  trustDomain: string;
  version: string;
  reportAgent(agentId: string, report: AgentReport): Promise<void>;
  removeAgent(agentId: string): Promise<void>;
  issueToken(nodeId: string, identity: string): { token: string; pushUrl: string; trustBundlePem: string[]; controlPlaneIdentity: string };
  services(): ServiceView[];
  workloads(): WorkloadView[];
  endpoints(): EndpointView[];
  proxies(): ProxyView[];
  snapshot(nodeId: string): { nodeId: string; version: number; snapshot: ProxySnapshot } | undefined;
  check(): Promise<CheckReport>;
  metricsText(): Promise<{ contentType: string; body: string }>;
  /** Mesh resources (src/api/resources.ts): all-or-nothing apply, read with status, delete. */
  applyResources(items: unknown[], dryRun: boolean): Promise<ApplyResult>;
  listResources(kind?: ResourceKind): ResourceView[];
  getResource(kind: ResourceKind, namespace: string, name: string): ResourceView | undefined;
  deleteResource(kind: ResourceKind, namespace: string, name: string): Promise<boolean>;
  /** OTLP/HTTP span receipt (POST /v1/traces) and the recent-trace views (src/api/traces.ts). */
  traces: TraceReceiver;
  recentTraces(limit: number): TraceSummaryView[];
  trace(traceId: string): TraceView | undefined;
  /** Golden metrics for the dashboard (src/api/stats.ts). */
  stats: StatsService;
  /** The client for a proxy's https (remote, mTLS) admin URL, for taps; absent: plain HTTP only. */
  adminDispatcherFor?: AdminDispatcherFor;
}

const MAX_BODY = 4 * 1024 * 1024;

export { HttpError };

/** The control plane's REST API (src/api/registry.ts) on node:http. */
export class ApiServer {
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  /**
   * Listens at once (so the bound address is known), but answers requests only once `ready`
   * resolves: the control plane finishes starting with the address in hand.
   */
  static async start(listen: HostPort, agentToken: string, backend: ApiBackend, logger: Logger, ready: Promise<void> = Promise.resolve()): Promise<ApiServer> {
    const expected = Buffer.from(`Bearer ${agentToken}`);
    const authorized = (req: IncomingMessage): boolean => {
      const got = Buffer.from(req.headers.authorization ?? '');
      return got.length === expected.length && timingSafeEqual(got, expected);
    };
    const server = createServer((req, res) => {
      ready.then(() => route(req, res, backend, authorized)).catch((err: unknown) => {
        if (err instanceof ResourceValidationError) {
          json(res, 400, { error: { code: err.code, message: err.message, issues: err.issues } });
        } else if (err instanceof HttpError) {
          json(res, err.status, { error: { code: err.code, message: err.message } });
        } else if (err instanceof TrellisError) {
          json(res, 400, { error: { code: err.code, message: err.message } });
        } else {
          logger.error({ err, method: req.method, url: req.url }, 'api: request failed');
          json(res, 500, { error: { code: 'TRELLIS_E_INTERNAL', message: 'internal error' } });
        }
      });
    });
    server.keepAliveTimeout = 5000;
    const address = await listenOn(server, listen, 'api');
    return new ApiServer(server, urlOf('http', address));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

async function route(
  req: IncomingMessage,
  res: ServerResponse,
  b: ApiBackend,
  authorized: (req: IncomingMessage) => boolean,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  const path = url.pathname;
  const method = req.method ?? 'GET';
  if (path === '/healthz' && method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    return;
  }
  if (path === '/metrics' && method === 'GET') {
    const m = await b.metricsText();
    res.writeHead(200, { 'content-type': m.contentType }).end(m.body);
    return;
  }
  if (isOtlpTracesPath(path)) return receiveOtlpTraces(req, res, b.traces);
  if (method === 'GET' && (await serveDashboard(req, res, path))) return;
  if (!path.startsWith(`${API_PREFIX}/`)) throw new HttpError(404, 'TRELLIS_E_NOT_FOUND', `no route ${method} ${path}`);
  const parts = path.slice(API_PREFIX.length + 1).split('/').map(decodeURIComponent);
  const [a, b1, c, d] = parts;

  if (a === 'agents' && b1 !== undefined && b1 !== '') {
    if (!authorized(req)) throw new HttpError(401, 'TRELLIS_E_UNAUTHORIZED', 'missing or wrong agent token (authorization: Bearer <token>)');
    if (parts.length === 2 && method === 'PUT') {
      const r = parseJson(agentReportSchema, await body(req));
      if (!r.ok) throw new HttpError(400, 'TRELLIS_E_CONFIG', r.message);
      if (r.value.agentId !== b1) throw new HttpError(400, 'TRELLIS_E_CONFIG', `agentId: "${r.value.agentId}" differs from the path's "${b1}"`);
      await b.reportAgent(b1, r.value as AgentReport);
      return json(res, 200, {});
    }
    if (parts.length === 2 && method === 'DELETE') {
      await b.removeAgent(b1);
      return json(res, 200, {});
    }
    if (parts.length === 3 && c === 'tokens' && method === 'POST') {
      const r = parseJson(tokenRequestSchema, await body(req));
      if (!r.ok) throw new HttpError(400, 'TRELLIS_E_CONFIG', r.message);
      return json(res, 200, b.issueToken(r.value.nodeId, r.value.identity));
    }
  }
  if (a === 'resources') return resources(req, res, b, authorized, parts.slice(1), url, method);
  if (method === 'GET') {
    if (parts.length === 1) {
      switch (a) {
        case 'services':
          return json(res, 200, b.services());
        case 'workloads':
          return json(res, 200, b.workloads());
        case 'endpoints':
          return json(res, 200, b.endpoints());
        case 'proxies':
          return json(res, 200, b.proxies());
        case 'check':
          return json(res, 200, await b.check());
        case 'version':
          return json(res, 200, { version: b.version, trustDomain: b.trustDomain });
      }
    }
    if (a === 'tap' && parts.length === 1) return serveTap(req, res, url, b.workloads(), b.adminDispatcherFor !== undefined ? { dispatcherFor: b.adminDispatcherFor } : {});
    if (a === 'stats' && parts.length === 1) return json(res, 200, b.stats.view(url.searchParams.get('window')));
    if (a === 'stats' && b1 === 'series' && parts.length === 2) return json(res, 200, b.stats.series(url.searchParams));
    if (a === 'workloads' && b1 === 'status' && parts.length === 2) return json(res, 200, b.stats.workloadStatus());
    if (a === 'prometheus' && b1 === 'targets' && parts.length === 2) return json(res, 200, prometheusTargets(b.workloads()));
    if (a === 'traces' && parts.length === 1) {
      const limit = traceLimit(url.searchParams.get('limit'));
      if (limit === undefined) throw new HttpError(400, 'TRELLIS_E_USAGE', 'limit: expected an integer from 1 to 1000');
      return json(res, 200, b.recentTraces(limit));
    }
    if (a === 'traces' && b1 !== undefined && parts.length === 2) {
      const t = b.trace(b1);
      if (t === undefined) throw new HttpError(404, 'TRELLIS_E_NOT_FOUND', `no spans of trace ${b1} are kept (32 hex digits; only recent traces are)`);
      return json(res, 200, t);
    }
    if (a === 'proxies' && b1 !== undefined && c === 'snapshot' && d === undefined) {
      const s = b.snapshot(b1);
      if (s === undefined) throw new HttpError(404, 'TRELLIS_E_NOT_FOUND', `no snapshot compiled for node ${b1}`);
      return json(res, 200, s);
    }
  }
  throw new HttpError(404, 'TRELLIS_E_NOT_FOUND', `no route ${method} ${path}`);
}

/** /api/v1/resources[/:kind[/:namespace/:name]] (src/api/resources.ts). */
async function resources(
  req: IncomingMessage,
  res: ServerResponse,
  b: ApiBackend,
  authorized: (req: IncomingMessage) => boolean,
  rest: string[],
  url: URL,
  method: string,
): Promise<void> {
  const denied = (): HttpError => new HttpError(401, 'TRELLIS_E_UNAUTHORIZED', 'missing or wrong token (authorization: Bearer <contents of <stateDir>/agent-token>)');
  const kindOf = (s: string): ResourceKind => {
    const k = kindFromName(s);
    if (k === undefined) throw new HttpError(404, 'TRELLIS_E_NOT_FOUND', `unknown resource kind "${s}"`);
    return k;
  };
  if (rest.length === 0 || (rest.length === 1 && rest[0] === '')) {
    if (method === 'GET') return json(res, 200, b.listResources());
    if (method === 'PUT') {
      if (!authorized(req)) throw denied();
      let parsed: unknown;
      try {
        parsed = JSON.parse(await body(req));
      } catch (err) {
        throw new HttpError(400, 'TRELLIS_E_CONFIG', `body is not JSON: ${(err as Error).message}`);
      }
      const items = Array.isArray(parsed) ? parsed : (parsed as { resources?: unknown } | null)?.resources;
      if (!Array.isArray(items)) throw new HttpError(400, 'TRELLIS_E_CONFIG', 'resources: expected a list (body {resources: [...]})');
      const dry = url.searchParams.get('dryRun');
      return json(res, 200, await b.applyResources(items, dry === 'true' || dry === '1' || dry === 'All'));
    }
  }
  const [k, ns, name] = rest;
  if (rest.length === 1 && k !== undefined && method === 'GET') return json(res, 200, b.listResources(kindOf(k)));
  if (rest.length === 3 && k !== undefined && ns !== undefined && name !== undefined) {
    const kind = kindOf(k);
    if (method === 'GET') {
      const r = b.getResource(kind, ns, name);
      if (r === undefined) throw new HttpError(404, 'TRELLIS_E_NOT_FOUND', `${kind} ${ns}/${name} not found`);
      return json(res, 200, r);
    }
    if (method === 'DELETE') {
      if (!authorized(req)) throw denied();
      if (!(await b.deleteResource(kind, ns, name))) throw new HttpError(404, 'TRELLIS_E_NOT_FOUND', `${kind} ${ns}/${name} not found`);
      return json(res, 200, { deleted: { kind, namespace: ns, name } });
    }
  }
  throw new HttpError(404, 'TRELLIS_E_NOT_FOUND', `no route ${method} ${url.pathname}`);
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, 'TRELLIS_E_CONFIG', `body larger than ${MAX_BODY} bytes`));
        req.resume();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
