import type { EndpointView, ProxyView, ServiceView, WorkloadView } from '../../api/registry.js';
import { RESOURCE_KINDS, type Condition, type ResourceView } from '../../api/resources.js';
import type { TraceSummaryView, TraceView } from '../../api/traces.js';
import { kindFromName } from '../../config/resources/validate.js';
import { apiGet, connectControlPlane } from '../api.js';
import { choice, parse, str } from '../args.js';
import { json, OUTPUTS, relativeTime, table, yaml } from '../format.js';
import { UsageError, type Command } from '../io.js';
import { resourceCall } from '../resources-client.js';
import { orderSpans } from '../span-tree.js';

const KINDS = ['services', 'workloads', 'endpoints', 'proxies'] as const;
type Kind = (typeof KINDS)[number];

const usage = `Usage: trellis get <services|workloads|endpoints|proxies> [-o table|json|yaml] [--control-plane URL]
       trellis get <kind> [name] [-n namespace] [-o table|json|yaml] [--control-plane URL]
       trellis get traces [traceId] [-o table|json|yaml] [--control-plane URL]

Lists what the control plane knows. Table by default; json and yaml print the API's
objects unchanged, for scripts.

<kind> is a mesh resource kind (${RESOURCE_KINDS.join(', ')}; lower case and plurals
work, "resources" lists every kind). The table shows each resource's status conditions
(Accepted, ResolvedRefs), computed against the registered services when read.

"traces" lists the recent traces the control plane collected (newest first); with a
trace id, its spans as a tree with start offsets and durations.

Options:
  -n, --namespace NS      namespace of a named resource (default "default"); filters lists
  -o, --output FORMAT     table (default), json or yaml
  --control-plane URL     REST API (default: $TRELLIS_CONTROL_PLANE, else ./.trellis/control-plane.json, else the last "trellis up" (~/.config/trellis/context.json), else http://127.0.0.1:15000)
  -h, --help              this text
`;

/** Table rows per kind. Exported for tests. */
export function render(kind: Kind, items: unknown[], now: number): string {
  switch (kind) {
    case 'services':
      return table(
        ['NAMESPACE', 'NAME', 'PORTS', 'READY', 'IDENTITY'],
        (items as ServiceView[]).map((s) => [s.namespace, s.name, s.ports.map((p) => `${p.name}/${p.protocol}`).join(',') || '-', `${s.endpointsReady}/${s.endpointsTotal}`, s.identity]),
      );
    case 'workloads':
      return table(
        ['NAMESPACE', 'NAME', 'SERVICE', 'READY', 'STATES', 'RESTARTS', 'PIDS (APP/PROXY)', 'KIND', 'AGENT'],
        (items as WorkloadView[]).map((w) => [
          w.namespace,
          w.name,
          w.ingress ? '-' : w.service,
          `${w.replicas.filter((r) => r.state === 'ready').length}/${w.replicas.length}`,
          w.replicas.map((r) => r.state).join(',') || '-',
          String(w.replicas.reduce((n, r) => n + r.restarts, 0)),
          w.replicas.map((r) => `${r.appPid ?? '-'}/${r.proxyPid ?? '-'}`).join(',') || '-',
          w.ingress ? 'ingress' : 'workload',
          w.agentId,
        ]),
      );
    case 'endpoints':
      return table(
        ['NAMESPACE', 'SERVICE', 'PORT', 'PROTOCOL', 'ADDRESS', 'WORKLOAD', 'READY'],
        (items as EndpointView[]).map((e) => [e.namespace, e.service, e.port, e.protocol, `${e.host}:${e.portNumber}`, `${e.workload}/${e.replica}`, e.ready ? 'yes' : 'no']),
      );
    case 'proxies':
      return table(
        ['NODE', 'CONNECTED', 'VERSION', 'ACKED', 'CERT EXPIRES', 'HANDSHAKES', 'TLS FAILURES', 'ADMIN'],
        (items as ProxyView[]).map((p) => [
          p.nodeId,
          p.connected ? 'yes' : 'no',
          p.version === null ? '-' : String(p.version),
          (p.ackedVersion === null ? '-' : String(p.ackedVersion)) + (p.nack !== null ? ` (nack ${p.nack.version})` : ''),
          relativeTime(p.certNotAfter, now),
          String(p.tlsHandshakes),
          String(p.tlsFailures),
          p.adminUrl ?? '-',
        ]),
      );
  }
}

export const getCommand: Command = {
  name: 'get',
  usage,
  async run(argv, io) {
    const p = parse(argv, { output: { type: 'string', short: 'o' }, namespace: { type: 'string', short: 'n' }, 'control-plane': { type: 'string' } }, usage, io.out, 2);
    if (p === null) return 0;
    const kind = p.positionals[0];
    if (kind === undefined) throw new UsageError(`what to get? one of ${KINDS.join(', ')}, ${RESOURCE_KINDS.join(', ')}`, usage);
    const output = choice(p, 'output', OUTPUTS, 'table', usage);
    if (kind === 'traces') {
      const base = connectControlPlane(str(p, 'control-plane'), io);
      const id = p.positionals[1];
      const value = id === undefined ? await apiGet<TraceSummaryView[]>(base, '/traces') : await apiGet<TraceView>(base, `/traces/${encodeURIComponent(id)}`);
      if (output !== 'table') io.out(output === 'json' ? json(value) : yaml(value));
      else io.out(Array.isArray(value) ? (value.length === 0 ? 'no traces collected yet\n' : renderTraces(value, Date.now())) : renderTrace(value));
      return 0;
    }
    const resourceKind = kind === 'resources' ? 'all' : kindFromName(kind);
    if (resourceKind !== undefined) {
      const base = connectControlPlane(str(p, 'control-plane'), io);
      const name = p.positionals[1];
      const ns = str(p, 'namespace');
      if (name !== undefined) {
        if (resourceKind === 'all') throw new UsageError('a name needs a kind (get <kind> <name>)', usage);
        const r = await resourceCall<ResourceView>(base, 'GET', `/resources/${resourceKind}/${encodeURIComponent(ns ?? 'default')}/${encodeURIComponent(name)}`);
        io.out(output === 'json' ? json(r) : output === 'yaml' ? yaml(r) : renderResources([r], true));
        return 0;
      }
      let items = await resourceCall<ResourceView[]>(base, 'GET', resourceKind === 'all' ? '/resources' : `/resources/${resourceKind}`);
      if (ns !== undefined) items = items.filter((r) => r.metadata.namespace === ns);
      io.out(output === 'json' ? json(items) : output === 'yaml' ? yaml(items) : items.length === 0 ? `no ${kind} found\n` : renderResources(items, false));
      return 0;
    }
    if (p.positionals.length > 1) throw new UsageError(`unexpected argument: ${p.positionals[1] ?? ''}`, usage);
    if (!(KINDS as readonly string[]).includes(kind)) throw new UsageError(`unknown kind "${kind}" (one of ${KINDS.join(', ')}, ${RESOURCE_KINDS.join(', ')})`, usage);
    const items = await apiGet<unknown[]>(connectControlPlane(str(p, 'control-plane'), io), `/${kind}`);
    io.out(output === 'json' ? json(items) : output === 'yaml' ? yaml(items) : render(kind as Kind, items, Date.now()));
    return 0;
  },
};

/** The conditions of a resource: per parent for routes, its own for policies. */
function conditionsOf(r: ResourceView): { scope: string; c: Condition }[] {
  const out: { scope: string; c: Condition }[] = [];
  for (const p of r.status.parents ?? []) for (const c of p.conditions) out.push({ scope: `parent ${p.parentRef.namespace}/${p.parentRef.name}`, c });
  for (const c of r.status.conditions ?? []) out.push({ scope: '', c });
  return out;
}

function summary(r: ResourceView, type: string): string {
  const cs = conditionsOf(r).filter((x) => x.c.type === type);
  if (cs.length === 0) return '-';
  const bad = cs.find((x) => x.c.status !== 'True');
  return bad === undefined ? 'True' : `False (${bad.c.reason})`;
}

function target(r: ResourceView): string {
  const spec = r.spec as { parentRefs?: { name: string; namespace?: string }[]; targetRef?: { name: string } };
  if (spec.parentRefs !== undefined) return spec.parentRefs.map((p) => p.name).join(',');
  return spec.targetRef?.name ?? '-';
}

/** Resources as a table; with `detail`, each condition on its own line below (as kubectl describe). Exported for tests. */
export function renderResources(items: ResourceView[], detail: boolean): string {
  const t = table(
    ['KIND', 'NAMESPACE', 'NAME', 'PARENTS/TARGET', 'ACCEPTED', 'RESOLVED REFS', 'GENERATION', 'VERSION'],
    items.map((r) => [r.kind, r.metadata.namespace, r.metadata.name, target(r), summary(r, 'Accepted'), summary(r, 'ResolvedRefs'), String(r.metadata.generation ?? '-'), r.metadata.resourceVersion ?? '-']),
  );
  if (!detail) return t;
  const lines = items.flatMap((r) => conditionsOf(r).map((x) => `  ${x.scope === '' ? '' : `${x.scope}: `}${x.c.type}=${x.c.status} ${x.c.reason}: ${x.c.message}`));
  return `${t}Conditions:\n${lines.join('\n')}\n`;
}

function ms(n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(2)}s` : `${n.toFixed(n >= 10 ? 0 : 2)}ms`;
}

/** Recent traces as a table. Exported for tests. */
export function renderTraces(items: TraceSummaryView[], now: number): string {
  return table(
    ['TRACE', 'ROOT', 'SERVICES', 'SPANS', 'DURATION', 'ERROR', 'STARTED'],
    items.map((t) => [t.traceId, `${t.rootService} ${t.rootName}`, t.services.join(','), String(t.spanCount), ms(t.durationMs), t.error ? 'yes' : 'no', relativeTime(new Date(t.startMs).toISOString(), now)]),
  );
}

/** One trace's spans in call order (./span-tree.ts), children indented under their parent, start as offset from the trace's. Exported for tests. */
export function renderTrace(t: TraceView): string {
  const start = t.spans.reduce((m, s) => Math.min(m, s.startMs), Number.POSITIVE_INFINITY);
  return table(
    ['SPAN', 'SERVICE', 'KIND', 'OFFSET', 'DURATION', 'STATUS'],
    orderSpans(t.spans).map(({ span: s, depth }) => [
      `${'  '.repeat(depth)}${s.name}`,
      s.service,
      s.kind,
      `+${ms(s.startMs - start)}`,
      ms(s.durationMs),
      s.statusMessage === undefined ? s.status : `${s.status} (${s.statusMessage})`,
    ]),
  );
}
