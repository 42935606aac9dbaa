import type { EndpointView, ProxyView, ServiceView, WorkloadView } from '../../api/registry.js';
import { apiGet, controlPlaneUrl } from '../api.js';
import { choice, parse, str } from '../args.js';
import { json, OUTPUTS, relativeTime, table, yaml } from '../format.js';
import { UsageError, type Command } from '../io.js';

const KINDS = ['services', 'workloads', 'endpoints', 'proxies'] as const;
type Kind = (typeof KINDS)[number];

const usage = `Usage: trellis get <services|workloads|endpoints|proxies> [-o table|json|yaml] [--control-plane URL]

Lists what the control plane knows. Table by default; json and yaml print the API's
objects unchanged, for scripts.

Options:
  -o, --output FORMAT     table (default), json or yaml
  --control-plane URL     REST API (default: $TRELLIS_CONTROL_PLANE, else ./.trellis/control-plane.json, else http://127.0.0.1:15000)
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
        ['NAMESPACE', 'NAME', 'SERVICE', 'READY', 'STATES', 'RESTARTS', 'KIND', 'AGENT'],
        (items as WorkloadView[]).map((w) => [
          w.namespace,
          w.name,
          w.ingress ? '-' : w.service,
          `${w.replicas.filter((r) => r.state === 'ready').length}/${w.replicas.length}`,
          w.replicas.map((r) => r.state).join(',') || '-',
          String(w.replicas.reduce((n, r) => n + r.restarts, 0)),
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
    const p = parse(argv, { output: { type: 'string', short: 'o' }, 'control-plane': { type: 'string' } }, usage, io.out, 1);
    if (p === null) return 0;
    const kind = p.positionals[0];
    if (kind === undefined) throw new UsageError('what to get? one of services, workloads, endpoints, proxies', usage);
    if (!(KINDS as readonly string[]).includes(kind)) throw new UsageError(`unknown kind "${kind}" (one of ${KINDS.join(', ')})`, usage);
    const output = choice(p, 'output', OUTPUTS, 'table', usage);
    const items = await apiGet<unknown[]>(controlPlaneUrl(str(p, 'control-plane'), io), `/${kind}`);
    io.out(output === 'json' ? json(items) : output === 'yaml' ? yaml(items) : render(kind as Kind, items, Date.now()));
    return 0;
  },
};
