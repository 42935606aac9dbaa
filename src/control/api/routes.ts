import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { AgentReport } from '../../api/registry.js';
import type { ResourceKind } from '../../api/resources.js';
import type { WhyAnswer, WhyQuery } from '../../api/why.js';
import { TrellisError } from '../../errors.js';
import { kindFromName } from '../../config/resources/validate.js';
import { checkAgentSelf, checkBootstrap, checkReport } from '../auth/agent-scope.js';
import { dashboardLogin } from '../auth/dashboard-login.js';
import { serveDashboard } from '../dashboard/serve-dashboard.js';
import { expiredClientCertificate } from '../push/renewal.js';
import { serveTap } from '../tap/tap-api.js';
import type { ApiBackend } from './api-backend.js';
import { HttpError } from './http-error.js';
import { receiveOtlpTraces, traceLimit } from './otlp-traces.js';
import { prometheusTargets } from './prometheus-sd.js';
import { proxyMetrics } from '../proxy-admin/proxy-metrics.js';
import type { Route, RouteContext } from './router.js';
import { agentCsrSchema, agentReportSchema, apiTokenRequestSchema, joinRequestSchema, joinTokenRequestSchema, parseJson, tokenRequestSchema } from './schemas.js';
import type { Parsed } from './schemas.js';
import type { z } from 'zod';

type C = RouteContext<ApiBackend>;

/**
 * GET /api/v1/why?source=S&target=T[&method=M][&path=P][&header=name:value ...] (src/api/why.ts).
 * A source or target nobody knows is 404; a malformed query 400.
 */
function why(b: ApiBackend, p: URLSearchParams): WhyAnswer {
  const source = p.get('source');
  const target = p.get('target');
  if (source === null || source === '' || target === null || target === '') throw new HttpError(400, 'TRELLIS_E_USAGE', 'source and target are required (?source=<service>&target=<service>[:<port>])');
  const headers: [string, string][] = [];
  for (const h of p.getAll('header')) {
    const colon = h.indexOf(':');
    if (colon <= 0) throw new HttpError(400, 'TRELLIS_E_USAGE', `header: expected name:value, got "${h.slice(0, 100)}"`);
    headers.push([h.slice(0, colon).trim(), h.slice(colon + 1).trim()]);
  }
  const q: WhyQuery = { source, target, headers };
  const method = p.get('method');
  const path = p.get('path');
  if (method !== null && method !== '') q.method = method;
  if (path !== null && path !== '') q.path = path;
  try {
    return b.why(q);
  } catch (err) {
    if (err instanceof TrellisError && err.code === 'TRELLIS_E_NOT_FOUND') throw new HttpError(404, err.code, err.message);
    throw err;
  }
}

const MAX_BODY = 4 * 1024 * 1024;

/**
 * Every route of the REST API with what it needs (src/control/auth/principal.ts, Access).
 * The server answers only what is listed here; a path that matches nothing is a 404. The
 * table in docs/operations.md ("Who may do what") lists the same routes, and
 * test/integration/api-access.test.ts calls each one with no credential and with a read token.
 */
export const API_ROUTES: readonly Route<ApiBackend>[] = [
  // ---- open: nothing here shows traffic or changes anything
  { method: 'GET', path: '/healthz', access: 'public', handle: ({ res }) => void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok') },
  { method: 'GET', path: '/api/v1/ca', access: 'public', handle: ({ res, b }) => json(res, 200, { trustDomain: b.trustDomain, trustBundlePem: b.trustBundlePem() }) },
  { method: 'POST', path: '/api/v1/join', access: 'join-token', handle: async ({ req, res, b }) => json(res, 200, await b.auth.enrolment.join(await parsed(req, joinRequestSchema))) },
  { method: '*', path: '/v1/traces', access: 'public', handle: ({ req, res, b }) => receiveOtlpTraces(req, res, b.traces) },
  { method: 'GET', path: '/', access: 'public', handle: dashboard },
  { method: 'GET', path: '/dashboard/*', access: 'public', handle: dashboard },

  // ---- read: what the mesh is and what its traffic looks like
  {
    method: 'GET',
    path: '/metrics',
    access: 'read',
    handle: async ({ res, b }) => {
      const m = await b.metricsText();
      res.writeHead(200, { 'content-type': m.contentType }).end(m.body);
    },
  },
  { method: 'GET', path: '/api/v1/version', access: 'read', handle: ({ res, b }) => json(res, 200, { version: b.version, trustDomain: b.trustDomain }) },
  { method: 'GET', path: '/api/v1/services', access: 'read', handle: ({ res, b }) => json(res, 200, b.services()) },
  { method: 'GET', path: '/api/v1/workloads', access: 'read', handle: ({ res, b }) => json(res, 200, b.workloads()) },
  { method: 'GET', path: '/api/v1/workloads/status', access: 'read', handle: ({ res, b }) => json(res, 200, b.stats.workloadStatus()) },
  { method: 'GET', path: '/api/v1/endpoints', access: 'read', handle: ({ res, b }) => json(res, 200, b.endpoints()) },
  { method: 'GET', path: '/api/v1/proxies', access: 'read', handle: ({ res, b }) => json(res, 200, b.proxies()) },
  {
    method: 'GET',
    path: '/api/v1/proxies/:nodeId/snapshot',
    access: 'read',
    handle: ({ res, b, params }) => {
      const s = b.snapshot(params.nodeId as string);
      if (s === undefined) throw new HttpError(404, 'TRELLIS_E_NOT_FOUND', `no snapshot compiled for node ${params.nodeId}`);
      json(res, 200, s);
    },
  },
  { method: 'GET', path: '/api/v1/check', access: 'read', handle: async ({ res, b }) => json(res, 200, await b.check()) },
  { method: 'GET', path: '/api/v1/tap', access: 'read', handle: ({ req, res, url, b }) => serveTap(req, res, url, b.workloads(), b.adminDispatcherFor !== undefined ? { dispatcherFor: b.adminDispatcherFor } : {}) },
  { method: 'GET', path: '/api/v1/stats', access: 'read', handle: ({ res, url, b }) => json(res, 200, b.stats.view(url.searchParams.get('window'))) },
  { method: 'GET', path: '/api/v1/why', access: 'read', handle: ({ res, url, b }) => json(res, 200, why(b, url.searchParams)) },
  { method: 'GET', path: '/api/v1/stats/series', access: 'read', handle: ({ res, url, b }) => json(res, 200, b.stats.series(url.searchParams)) },
  {
    method: 'GET',
    path: '/api/v1/proxies/:nodeId/metrics',
    access: 'read',
    // A proxy's /metrics relayed by the control plane, for a CLI that cannot reach its remote admin listener.
    handle: async ({ res, b, params }) => {
      const m = await proxyMetrics(b.workloads(), params.nodeId as string, b.adminDispatcherFor ?? (() => undefined));
      res.writeHead(200, { 'content-type': m.contentType, 'cache-control': 'no-store' }).end(m.body);
    },
  },
  {
    method: 'GET',
    path: '/api/v1/prometheus/targets',
    access: 'read',
    // `remote=1`: also proxies on other hosts (`__scheme__: https`), readable only through GET /api/v1/proxies/:nodeId/metrics.
    handle: ({ res, url, b }) => json(res, 200, prometheusTargets(b.workloads(), { remote: url.searchParams.get('remote') === '1' })),
  },
  {
    method: 'GET',
    path: '/api/v1/traces',
    access: 'read',
    handle: ({ res, url, b }) => {
      const limit = traceLimit(url.searchParams.get('limit'));
      if (limit === undefined) throw new HttpError(400, 'TRELLIS_E_USAGE', 'limit: expected an integer from 1 to 1000');
      json(res, 200, b.recentTraces(limit));
    },
  },
  {
    method: 'GET',
    path: '/api/v1/traces/:traceId',
    access: 'read',
    handle: async ({ res, url, params, b }) => {
      // `local=1`: this replica's spans only (what a peer replica asks when merging).
      const id = params.traceId as string;
      const t = url.searchParams.get('local') === '1' || b.traceAcrossReplicas === undefined ? b.trace(id) : await b.traceAcrossReplicas(id);
      if (t === undefined) throw new HttpError(404, 'TRELLIS_E_NOT_FOUND', `no spans of trace ${params.traceId} are kept (32 hex digits; only recent traces are)`);
      json(res, 200, t);
    },
  },
  { method: 'GET', path: '/api/v1/resources', access: 'read', handle: ({ res, b }) => json(res, 200, b.listResources()) },
  { method: 'GET', path: '/api/v1/resources/:kind', access: 'read', handle: ({ res, b, params }) => json(res, 200, b.listResources(kindOf(params.kind as string))) },
  {
    method: 'GET',
    path: '/api/v1/resources/:kind/:namespace/:name',
    access: 'read',
    handle: ({ res, b, params }) => {
      const kind = kindOf(params.kind as string);
      const r = b.getResource(kind, params.namespace as string, params.name as string);
      if (r === undefined) throw new HttpError(404, 'TRELLIS_E_NOT_FOUND', `${kind} ${params.namespace}/${params.name} not found`);
      json(res, 200, r);
    },
  },

  // ---- admin: changes to the mesh and to who may use it
  { method: 'PUT', path: '/api/v1/resources', access: 'admin', handle: applyResources },
  {
    method: 'DELETE',
    path: '/api/v1/resources/:kind/:namespace/:name',
    access: 'admin',
    handle: async ({ res, b, params }) => {
      const kind = kindOf(params.kind as string);
      const [ns, name] = [params.namespace as string, params.name as string];
      if (!(await b.deleteResource(kind, ns, name))) throw new HttpError(404, 'TRELLIS_E_NOT_FOUND', `${kind} ${ns}/${name} not found`);
      json(res, 200, { deleted: { kind, namespace: ns, name } });
    },
  },
  { method: 'POST', path: '/api/v1/tokens', access: 'admin', handle: async ({ req, res, b }) => json(res, 200, await b.auth.apiTokens.create(await parsed(req, apiTokenRequestSchema))) },
  { method: 'GET', path: '/api/v1/tokens', access: 'admin', handle: ({ res, b }) => json(res, 200, b.auth.apiTokens.list()) },
  { method: 'DELETE', path: '/api/v1/tokens/:id', access: 'admin', handle: ({ res, b, params }) => deleted(res, params.id as string, 'API token', b.auth.apiTokens.delete(params.id as string)) },
  { method: 'POST', path: '/api/v1/join-tokens', access: 'admin', handle: async ({ req, res, b }) => json(res, 200, await b.auth.enrolment.createJoinToken(await parsed(req, joinTokenRequestSchema))) },
  { method: 'GET', path: '/api/v1/join-tokens', access: 'admin', handle: ({ res, b }) => json(res, 200, b.auth.enrolment.listJoinTokens()) },
  { method: 'DELETE', path: '/api/v1/join-tokens/:id', access: 'admin', handle: ({ res, b, params }) => deleted(res, params.id as string, 'join token', b.auth.enrolment.deleteJoinToken(params.id as string)) },
  { method: 'GET', path: '/api/v1/hosts', access: 'admin', handle: ({ res, b }) => json(res, 200, b.auth.enrolment.hosts()) },
  { method: 'DELETE', path: '/api/v1/hosts/:host', access: 'admin', handle: ({ res, b, params }) => deleted(res, params.host as string, 'joined host', b.auth.enrolment.deleteHost(params.host as string)) },

  // ---- agents: each limited to its own host (src/control/auth/agent-scope.ts)
  {
    method: 'PUT',
    path: '/api/v1/agents/:agentId',
    access: 'agent',
    handle: async ({ req, res, b, params, principal }) => {
      const agentId = params.agentId as string;
      checkAgentSelf(principal, agentId);
      const report = (await parsed(req, agentReportSchema)) as AgentReport;
      if (report.agentId !== agentId) throw new HttpError(400, 'TRELLIS_E_CONFIG', `agentId: "${report.agentId}" differs from the path's "${agentId}"`);
      checkReport(principal, agentId, report, b.auth.scope);
      await b.reportAgent(agentId, report);
      json(res, 200, {});
    },
  },
  {
    method: 'DELETE',
    path: '/api/v1/agents/:agentId',
    access: 'agent',
    handle: async ({ res, b, params, principal }) => {
      checkAgentSelf(principal, params.agentId as string);
      await b.removeAgent(params.agentId as string);
      json(res, 200, {});
    },
  },
  {
    method: 'POST',
    path: '/api/v1/agents/:agentId/tokens',
    access: 'agent',
    handle: async ({ req, res, b, params, principal }) => {
      const r = await parsed(req, tokenRequestSchema);
      checkBootstrap(principal, params.agentId as string, r.nodeId, r.identity, b.auth.scope);
      json(res, 200, await b.issueToken(r.nodeId, r.identity));
    },
  },
  // A joined host renews its own certificate; one that just expired must still get through,
  // so the handler checks the TLS client certificate itself.
  { method: 'POST', path: '/api/v1/agents/:agentId/certificate', access: 'agent-certificate', handle: renewAgentCertificate },
];

async function dashboard({ req, res, url, b }: C): Promise<void> {
  if (dashboardLogin(res, url, b.auth.login)) return;
  if (!(await serveDashboard(req, res, url.pathname))) throw new HttpError(404, 'TRELLIS_E_NOT_FOUND', `no route GET ${url.pathname}`);
}

async function applyResources({ req, res, url, b }: C): Promise<void> {
  let value: unknown;
  try {
    value = JSON.parse(await body(req));
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw new HttpError(400, 'TRELLIS_E_CONFIG', `body is not JSON: ${(err as Error).message}`);
  }
  const items = Array.isArray(value) ? value : (value as { resources?: unknown } | null)?.resources;
  if (!Array.isArray(items)) throw new HttpError(400, 'TRELLIS_E_CONFIG', 'resources: expected a list (body {resources: [...]})');
  const dry = url.searchParams.get('dryRun');
  json(res, 200, await b.applyResources(items, dry === 'true' || dry === '1' || dry === 'All'));
}

async function renewAgentCertificate({ req, res, b, params, principal }: C): Promise<void> {
  const host = params.agentId as string;
  const { csrPem } = await parsed(req, agentCsrSchema);
  if (principal.kind === 'host-agent') {
    checkAgentSelf(principal, host);
    return json(res, 200, await b.auth.enrolment.renew(host, csrPem));
  }
  const socket = req.socket as Partial<TLSSocket>;
  const expired = socket.encrypted === true ? expiredClientCertificate(socket as TLSSocket) : null;
  if (expired === null) throw new HttpError(401, 'TRELLIS_E_UNAUTHORIZED', 'renewing a host certificate needs that certificate (mTLS over HTTPS)');
  json(res, 200, await b.auth.enrolment.renewExpired(host, expired, csrPem));
}

async function deleted(res: ServerResponse, id: string, what: string, done: Promise<boolean>): Promise<void> {
  if (!(await done)) throw new HttpError(404, 'TRELLIS_E_NOT_FOUND', `no ${what} ${id}`);
  json(res, 200, { deleted: id });
}

function kindOf(s: string): ResourceKind {
  const k = kindFromName(s);
  if (k === undefined) throw new HttpError(404, 'TRELLIS_E_NOT_FOUND', `unknown resource kind "${s}"`);
  return k;
}

async function parsed<T>(req: IncomingMessage, schema: z.ZodType<T>): Promise<T> {
  const r: Parsed<T> = parseJson(schema, await body(req));
  if (!r.ok) throw new HttpError(400, 'TRELLIS_E_CONFIG', r.message);
  return r.value;
}

export function json(res: ServerResponse, status: number, value: unknown): void {
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
