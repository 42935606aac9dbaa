import type { WorkloadView } from '../../api/registry.js';
import { TrellisError } from '../../errors.js';
import { apiGet, connectControlPlane, getJson } from '../api.js';
import { choice, parse, str } from '../args.js';
import { json, yaml } from '../format.js';
import { UsageError, type Command } from '../io.js';

const usage = `Usage: trellis proxy-config <workload>[/<replica>] [-o json|yaml] [--control-plane URL]

Prints the configuration a proxy actually runs (its admin /config: bootstrap, listeners and
the snapshot version it applied). The replica defaults to 0. Exit 5 if there is no such
workload or replica, 4 if the control plane or the proxy cannot be reached.

Options:
  -o, --output FORMAT     json (default) or yaml
  --control-plane URL     REST API (default: $TRELLIS_CONTROL_PLANE, else ./.trellis/control-plane.json, else the last "trellis up" (~/.config/trellis/context.json), else http://127.0.0.1:15000)
  -h, --help              this text
`;

export const proxyConfigCommand: Command = {
  name: 'proxy-config',
  usage,
  async run(argv, io) {
    const p = parse(argv, { output: { type: 'string', short: 'o' }, 'control-plane': { type: 'string' } }, usage, io.out, 1);
    if (p === null) return 0;
    const target = p.positionals[0];
    if (target === undefined) throw new UsageError('which proxy? give <workload>[/<replica>]', usage);
    const m = /^([a-z0-9-]+)(?:\/(\d+))?$/.exec(target);
    if (m === null) throw new UsageError(`"${target}" is not <workload>[/<replica>]`, usage);
    const name = m[1] as string;
    const replica = Number(m[2] ?? '0');
    const output = choice(p, 'output', ['json', 'yaml'] as const, 'json', usage);
    const workloads = await apiGet<WorkloadView[]>(connectControlPlane(str(p, 'control-plane'), io), '/workloads');
    // Across hosts every host's agent reports its own replicas of a workload: look in all of them.
    const views = workloads.filter((x) => x.name === name);
    if (views.length === 0) {
      throw new TrellisError('TRELLIS_E_NOT_FOUND', `no workload "${name}" (known: ${[...new Set(workloads.map((x) => x.name))].join(', ') || 'none'})`);
    }
    const found = views.flatMap((w) => w.replicas.map((r) => ({ w, r }))).find((x) => x.r.replica === replica);
    if (found === undefined) {
      throw new TrellisError('TRELLIS_E_NOT_FOUND', `workload ${name} has no replica ${replica} (replicas: ${views.flatMap((w) => w.replicas.map((x) => x.replica)).join(', ')})`);
    }
    const r = found.r;
    // Across hosts the reported URL is the proxy's remote admin listener, which answers only the
    // control plane's certificate (the CLI has none); its loopback one is on the other host.
    if (r.adminUrl === '' || r.adminUrl.startsWith('https:')) {
      throw new TrellisError(
        'TRELLIS_E_NOT_FOUND',
        `the proxy of ${name}/${replica} runs on agent ${found.w.agentId}'s host; its admin listener is on that host's loopback, out of reach from here (what the control plane sent it: GET /api/v1/proxies/${r.nodeId}/snapshot)`,
      );
    }
    const config = await getJson<unknown>(`${r.adminUrl}/config`, `the proxy of ${name}/${replica}`);
    io.out(output === 'yaml' ? yaml(config) : json(config));
    return 0;
  },
};
