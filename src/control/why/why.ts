import type { ClusterConfig, ProxySnapshot } from '../../api/snapshot.js';
import type { WorkloadView } from '../../api/registry.js';
import type { WhyAnswer, WhyBackend, WhyDestination, WhyOutcome, WhyQuery, WhyRoute } from '../../api/why.js';
import { TrellisError } from '../../errors.js';
import { compileClusterRoutes } from '../../proxy/cluster/cluster-table.js';
import { compileInboundPolicies } from '../../proxy/policy/compile.js';
import type { PolicyRequest } from '../../proxy/policy/types.js';
import { applyHeaderModifier, applyUrlRewrite } from '../../proxy/routing/index.js';
import type { RouteMatch } from '../../proxy/routing/types.js';
import { tcpConnectionRequest } from '../../proxy/stages/authz/tcp.js';
import { isPathRefusal, normalizePath } from '../../proxy/stages/normalize/path.js';
import type { ProxyNode } from '../registry/registry.js';
import { parseClusterName } from '../compiler/context.js';

/** What `why` reads of the control plane: the registry's nodes and workloads, and the compiled snapshots. */
export interface WhyMesh {
  nodes(): readonly ProxyNode[];
  servingWorkloads(namespace: string, service: string): readonly WorkloadView[];
  /** The snapshot compiled for a node (what the proxy runs once it acknowledged it). */
  snapshot(nodeId: string): ProxySnapshot | undefined;
  /** The control plane's warnings about a node's inbound policy. */
  warnings(nodeId: string): readonly string[];
}

const DEFAULT_NAMESPACE = 'default';

/**
 * What the mesh would do with one request, from the compiled snapshots, with the code the
 * proxies run: the caller's snapshot's route table is compiled by the cluster table's own
 * function and matched with `routeNormalized` on the path the normalize stage's function
 * gives (as the route stage does); the route's rewrite and header edits are applied with the
 * forwarder's functions; each callee's inbound policy is compiled by `compileInboundPolicies`
 * and asked with `InboundPolicy.explain` (the evaluator the authz stage calls). Nothing here
 * re-implements a decision, so `why` and the data plane cannot disagree.
 *
 * Throws TrellisError TRELLIS_E_NOT_FOUND / TRELLIS_E_USAGE for a source or target it cannot
 * resolve (the API answers 404 / 400).
 */
export function explainRequest(mesh: WhyMesh, q: WhyQuery): WhyAnswer {
  const source = resolveSource(mesh, q.source);
  const snapshot = source.snapshot;
  const target = resolveTarget(snapshot, q.target, source.node.namespace);
  const headers = flatHeaders(q.headers ?? []);
  const grpcTarget = target.protocol === 'grpc';
  const method = (q.method ?? (grpcTarget ? 'POST' : 'GET')).toUpperCase();
  if (grpcTarget && !headers.includes('content-type')) headers.push('content-type', 'application/grpc');
  const hostIndex = headers.indexOf('host');
  // Apps name the upstream by its local listener, so the Host they send is rarely the service's;
  // routes with hostnames are matched against --header host=... when given, else the service name.
  const host = hostIndex >= 0 && hostIndex % 2 === 0 ? (headers[hostIndex + 1] as string) : target.service.slice(target.service.indexOf('/') + 1);
  if (hostIndex < 0) headers.push('host', host);
  const rawTarget = q.path ?? '/';
  const qi = rawTarget.indexOf('?');
  const rawPath = qi < 0 ? rawTarget : rawTarget.slice(0, qi);
  const query = qi < 0 ? '' : rawTarget.slice(qi + 1);

  const answer: WhyAnswer = {
    source: { service: source.service, node: source.node.nodeId, identity: source.node.identity, snapshotVersion: snapshot.version },
    target: { cluster: target.cluster, service: target.service, port: target.port, protocol: target.protocol },
    request: { method, path: rawPath, query, host },
    outcome: 'allowed',
    explanation: [],
    route: null,
    backends: [],
    destinations: [],
  };
  const say = (s: string): void => {
    answer.explanation.push(s);
  };
  say(`${source.service} calls through its proxy ${source.node.nodeId} as ${source.node.identity} (snapshot version ${snapshot.version})`);

  if (target.protocol === 'tcp') {
    // An opaque TCP connection: no path, no route; the callee decides on the caller alone.
    answer.request = { method: '', path: '', query: '', host: null };
    answer.backends = [{ cluster: target.cluster, weight: 1, percent: 100, valid: snapshot.clusters.some((c) => c.name === target.cluster) }];
    say(`${target.cluster} is a TCP port: a connection is authorized by its caller alone (path, method and header rules do not apply)`);
    const d = destinationsOf(mesh, answer.backends[0] as WhyBackend, null, undefined, [], source.node.identity, '');
    answer.destinations.push(d);
    for (const line of d.explanation) say(line);
    answer.outcome = answer.backends[0]?.valid === true ? d.outcome : 'unknown-cluster';
    return answer;
  }
  const path = normalizePath(rawPath === '' ? '/' : rawPath);
  if (isPathRefusal(path)) {
    answer.outcome = 'bad-path';
    say(`the caller's proxy refuses the path with 400 bad-path: ${path.message}; no route or policy sees it`);
    return answer;
  }
  answer.request.path = path;
  if (path !== rawPath) say(`the path is normalized to ${path}: routes and policies see that, and the app receives it`);

  const cluster = snapshot.clusters.find((c) => c.name === target.cluster);
  if (cluster === undefined) {
    answer.outcome = 'unknown-cluster';
    say(`${source.service}'s proxy has no cluster ${target.cluster}: it is not an upstream of ${source.service}, or no workload serves it (the proxy answers unknown-cluster)`);
    return answer;
  }
  const tables = compileClusterRoutes(snapshot.clusters);
  const table = tables[snapshot.clusters.indexOf(cluster)] ?? null;
  let match: RouteMatch | null = null;
  if (table === null) {
    answer.backends = [{ cluster: cluster.name, weight: 1, percent: 100, valid: true }];
    say(`no route is attached to ${cluster.name}: every request goes to it`);
  } else {
    match = table.routeNormalized(method, path, query, host, headers);
    if (match === null) {
      answer.outcome = 'no-route';
      say(`routes are attached to ${cluster.name} and none matches ${method} ${path}: the caller's proxy answers 404 no-route`);
      return answer;
    }
    const r: WhyRoute = { route: match.route, kind: match.rule.kind, rule: match.rule.index };
    if (match.rule.name !== undefined) r.name = match.rule.name;
    answer.route = r;
    say(`${match.rule.kind} ${match.route} rule ${match.rule.index}${match.rule.name !== undefined ? ` (${match.rule.name})` : ''} matches`);
    if (match.filters.redirect !== undefined) {
      answer.outcome = 'redirect';
      say(`the rule redirects (${match.filters.redirect.statusCode}): the caller's proxy answers it`);
      return answer;
    }
    const total = match.rule.totalWeight;
    answer.backends = match.rule.backends.map((b): WhyBackend => ({ cluster: b.cluster, weight: b.weight, percent: total > 0 ? Math.round((b.weight / total) * 10000) / 100 : 0, valid: b.valid }));
    if (answer.backends.length === 0) {
      answer.outcome = 'no-backend';
      say('the rule has no backend with weight: the caller\'s proxy answers 500 no-backend');
      return answer;
    }
    say(answer.backends.length === 1 ? `it sends to ${answer.backends[0]?.cluster}` : `it splits by weight: ${answer.backends.map((b) => `${b.cluster} ${b.percent}%`).join(', ')}`);
  }

  // The request as the callee's proxy receives it: the rule's header edits and rewrite applied.
  let inTarget = query === '' ? path : `${path}?${query}`;
  let inHeaders: readonly string[] = headers;
  let inHost: string | undefined = host;
  if (match !== null) {
    if (match.filters.requestHeaders !== undefined) inHeaders = applyHeaderModifier(inHeaders, match.filters.requestHeaders);
    if (match.filters.rewrite !== undefined) {
      const rw = applyUrlRewrite(inTarget, inHost, inHeaders, match.filters.rewrite, match);
      inTarget = rw.target;
      inHeaders = rw.headers;
      inHost = rw.host;
    }
  }
  for (const b of answer.backends) {
    const d = destinationsOf(mesh, b, inTarget, inHost, inHeaders, source.node.identity, method);
    answer.destinations.push(d);
    for (const line of d.explanation) say(line);
  }
  answer.outcome = answer.destinations[0]?.outcome ?? 'allowed';
  return answer;
}

function destinationsOf(
  mesh: WhyMesh,
  b: WhyBackend,
  /** The request target as the callee receives it; null: an opaque TCP connection. */
  target: string | null,
  host: string | undefined,
  headers: readonly string[],
  peer: string,
  method: string,
): WhyAnswer['destinations'][number] & { explanation: string[] } {
  const explanation: string[] = [];
  if (!b.valid) {
    explanation.push(`${b.cluster} is not a cluster the caller's proxy knows: its share is answered 500 no-backend`);
    return { cluster: b.cluster, outcome: 'no-backend', groups: [], explanation };
  }
  const c = parseClusterName(b.cluster);
  if (c === null) return { cluster: b.cluster, outcome: 'no-backend', groups: [], explanation };
  let req: PolicyRequest;
  if (target === null) req = tcpConnectionRequest(peer);
  else {
    const q = target.indexOf('?');
    const rawPath = q < 0 ? target : target.slice(0, q);
    const normalized = normalizePath(rawPath);
    if (isPathRefusal(normalized)) {
      explanation.push(`the callee's proxy refuses the rewritten path with 400 bad-path: ${normalized.message}`);
      return { cluster: b.cluster, outcome: 'bad-path', groups: [], explanation };
    }
    req = { peer, method, path: normalized, query: q < 0 ? '' : target.slice(q + 1), host, headers, grpc: isGrpc(headers) };
  }
  // Every ready replica of the workloads behind the service, grouped by the answer they give.
  const groups = new Map<string, WhyDestination>();
  const nodes = new Map(mesh.nodes().map((n) => [n.nodeId, n]));
  for (const w of mesh.servingWorkloads(c.namespace, c.service)) {
    for (const r of w.replicas) {
      if (r.state !== 'ready') continue;
      const node = nodes.get(r.nodeId);
      const snap = mesh.snapshot(r.nodeId);
      if (node === undefined || snap === undefined) continue;
      const d = decide(snap, c.port, req, mesh.warnings(r.nodeId));
      const key = JSON.stringify(d);
      let g = groups.get(key);
      if (g === undefined) groups.set(key, (g = { ...d, workloads: [], nodes: [] }));
      const wname = `${w.namespace}/${w.name}`;
      if (!g.workloads.includes(wname)) g.workloads.push(wname);
      g.nodes.push(r.nodeId);
    }
  }
  const list = [...groups.values()];
  if (list.length === 0) {
    explanation.push(`${b.cluster} has no ready replica with a compiled snapshot: the caller's proxy answers 503`);
    return { cluster: b.cluster, outcome: 'no-endpoints', groups: [], explanation };
  }
  for (const g of list) {
    const who = `${g.workloads.join(', ')} (${g.nodes.length} ${g.nodes.length === 1 ? 'replica' : 'replicas'})`;
    const refusal = target === null ? 'denied (the connection is reset)' : 'denied (403 unauthorized)';
    explanation.push(`at ${who}, port ${c.port}: ${g.decision.allowed ? 'allowed' : refusal}: ${g.decision.reason}`);
    if (g.audit !== undefined) explanation.push(`AUDIT policy ${g.audit} logs and counts it`);
    for (const l of g.rateLimits) if (l.applies) explanation.push(`RateLimitPolicy ${l.policy} (${l.mode}) covers it`);
    for (const w of g.warnings) explanation.push(`warning: ${w}`);
  }
  const first = list[0] as WhyDestination;
  return { cluster: b.cluster, outcome: first.decision.allowed ? 'allowed' : 'denied', groups: list, explanation };
}

/** One callee's decision for the request, from its snapshot's inbound policy for the port. */
function decide(snap: ProxySnapshot, port: string, req: PolicyRequest, warnings: readonly string[]): Omit<WhyDestination, 'workloads' | 'nodes'> {
  const config = snap.inbound?.find((p) => p.port === port);
  const base = { path: req.path, warnings: [...warnings] };
  if (config === undefined) {
    return {
      ...base,
      decision: { allowed: true, source: 'default', label: 'default', reason: 'no policy applies to this port and its defaultAction is allow' },
      defaultAction: 'allow',
      defaultFrom: 'mesh',
      rateLimits: [],
    };
  }
  const compiled = compileInboundPolicies([config]);
  if (!compiled.ok) throw new Error(`the inbound policy of port ${port} does not compile: ${compiled.problems.map((p) => p.message).join('; ')}`);
  const policy = compiled.byPort.get(port);
  if (policy === undefined) throw new Error(`no compiled policy for port ${port}`);
  const e = policy.explain(req);
  const d = e.decision;
  return {
    ...base,
    decision: {
      allowed: d.allowed,
      source: d.source,
      label: d.label,
      ...(d.action !== undefined ? { action: d.action } : {}),
      ...(d.rule !== undefined ? { rule: d.rule } : {}),
      reason: d.reason,
    },
    defaultAction: config.defaultAction,
    defaultFrom: config.defaultFrom,
    ...(e.audit !== null ? { audit: e.audit.label } : {}),
    rateLimits: e.rateLimits,
  };
}

function resolveSource(mesh: WhyMesh, text: string): { service: string; node: ProxyNode; snapshot: ProxySnapshot } {
  const slash = text.indexOf('/');
  const ns = slash < 0 ? DEFAULT_NAMESPACE : text.slice(0, slash);
  const name = slash < 0 ? text : text.slice(slash + 1);
  if (name === '') throw new TrellisError('TRELLIS_E_USAGE', 'source: expected <service> or <namespace>/<service>');
  const serving = new Set<string>();
  for (const w of mesh.servingWorkloads(ns, name)) serving.add(`${w.agentId}\n${w.name}`);
  const candidates = mesh.nodes().filter((n) => n.namespace === ns && (serving.has(`${n.agentId}\n${n.workload}`) || n.workload === name));
  // A ready replica first: its snapshot is the one serving traffic.
  candidates.sort((a, b) => Number(b.ready) - Number(a.ready) || (a.nodeId < b.nodeId ? -1 : 1));
  for (const node of candidates) {
    const snapshot = mesh.snapshot(node.nodeId);
    if (snapshot !== undefined) return { service: `${ns}/${name}`, node, snapshot };
  }
  throw new TrellisError('TRELLIS_E_NOT_FOUND', `no proxy of ${ns}/${name} has a compiled snapshot (is it a service or workload of the mesh?)`);
}

function resolveTarget(snapshot: ProxySnapshot, text: string, defaultNs: string): { cluster: string; service: string; port: string; protocol: string } {
  const slash = text.indexOf('/');
  const ns = slash < 0 ? defaultNs : text.slice(0, slash);
  const rest = slash < 0 ? text : text.slice(slash + 1);
  const colon = rest.lastIndexOf(':');
  const service = colon < 0 ? rest : rest.slice(0, colon);
  const port = colon < 0 ? undefined : rest.slice(colon + 1);
  if (service === '' || port === '') throw new TrellisError('TRELLIS_E_USAGE', 'target: expected <service>, <service>:<port> or <namespace>/<service>:<port>');
  const mine = snapshot.clusters.filter((c: ClusterConfig) => c.namespace === ns && c.service === service);
  if (port !== undefined) {
    const c = mine.find((x) => x.port === port);
    return { cluster: `${ns}/${service}:${port}`, service: `${ns}/${service}`, port, protocol: c?.protocol ?? 'unknown' };
  }
  if (mine.length === 1) {
    const c = mine[0] as ClusterConfig;
    return { cluster: c.name, service: `${ns}/${service}`, port: c.port, protocol: c.protocol };
  }
  if (mine.length === 0) return { cluster: `${ns}/${service}:?`, service: `${ns}/${service}`, port: '?', protocol: 'unknown' };
  throw new TrellisError('TRELLIS_E_USAGE', `target ${ns}/${service} has several ports in the caller's snapshot (${mine.map((c) => c.port).join(', ')}): name one as ${service}:<port>`);
}

/** Lower-cased flat [name, value, ...] (as the codecs hand requests to the pipeline). */
function flatHeaders(list: readonly [string, string][]): string[] {
  const out: string[] = [];
  for (const [k, v] of list) out.push(k.toLowerCase(), v);
  return out;
}

function isGrpc(headers: readonly string[]): boolean {
  for (let i = 0; i + 1 < headers.length; i += 2) if (headers[i] === 'content-type' && (headers[i + 1] as string).startsWith('application/grpc')) return true;
  return false;
}

export type { WhyOutcome };
