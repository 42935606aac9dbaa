import type { ApplyResult } from '../../api/resources.js';
import { ConfigError, type ConfigIssue } from '../../config/issues.js';
import { loadResources, type LoadedResource } from '../../config/resources/load.js';
import { connectControlPlane, type ControlPlaneConnection } from '../api.js';
import { choice, parse, str } from '../args.js';
import { json, yaml } from '../format.js';
import { UsageError, type Command, type Io } from '../io.js';
import { resourceCall, ResourceApiError } from '../resources-client.js';

const usage = `Usage: trellis apply -f <file|dir|-> [--dry-run] [-o text|json|yaml] [--control-plane URL] [--state-dir D]

Validates mesh resources (HTTPRoute, GRPCRoute, DestinationPolicy, FaultInjection; see
docs/configuration.md) and stores them in the control plane, all or nothing. A directory
means every *.yaml / *.yml in it; - reads standard input. Documents are separated by ---.
Problems are printed as file:line:col: <kind>/<name>: field.path: reason (exit 3).

Prints one line per resource: created, configured or unchanged.

Options:
  -f, --filename F        file, directory or - (required)
  --dry-run               validate and show what would change; store nothing
  -o, --output FORMAT     text (default), json or yaml (the API's ApplyResult)
  --control-plane URL     REST API (default: $TRELLIS_CONTROL_PLANE, else ./.trellis/control-plane.json, else the last "trellis up" (~/.config/trellis/context.json), else http://127.0.0.1:15000)
  --state-dir D           where the API token is read from (<D>/admin-token; default: the state directory of the mesh found)
  -h, --help              this text
`;

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

/** Sends loaded resources; a 400's issues are reported at each resource's file:line. Exported for `up`. */
export async function applyLoaded(conn: ControlPlaneConnection, loaded: LoadedResource[], dryRun: boolean): Promise<ApplyResult> {
  try {
    return await resourceCall<ApplyResult>(conn, 'PUT', `/resources${dryRun ? '?dryRun=true' : ''}`, { body: { resources: loaded.map((l) => l.resource) } });
  } catch (err) {
    if (err instanceof ResourceApiError && err.issues.length > 0) {
      throw new ConfigError(
        err.issues.map((i): ConfigIssue => {
          const at = loaded[i.index];
          return { file: at?.file ?? '?', line: at?.line ?? 0, col: at?.col ?? 0, path: i.path === '' ? `${i.kind}/${i.name}` : `${i.kind}/${i.name}: ${i.path}`, message: i.message };
        }),
      );
    }
    throw err;
  }
}

export function describeApply(r: ApplyResult): string {
  return r.results.map((x) => `${x.kind} ${x.namespace}/${x.name} ${x.action}${r.dryRun ? ' (dry run)' : ''}\n`).join('');
}

export const applyCommand: Command = {
  name: 'apply',
  usage,
  async run(argv, io: Io & { stdin?: () => Promise<string> }) {
    const p = parse(
      argv,
      { filename: { type: 'string', short: 'f' }, 'dry-run': { type: 'boolean' }, output: { type: 'string', short: 'o' }, 'control-plane': { type: 'string' }, 'state-dir': { type: 'string' } },
      usage,
      io.out,
      0,
    );
    if (p === null) return 0;
    const file = str(p, 'filename');
    if (file === undefined) throw new UsageError('-f <file|dir|-> is required', usage);
    const output = choice(p, 'output', ['text', 'json', 'yaml'] as const, 'text', usage);
    const dryRun = p.values['dry-run'] === true;
    const loaded = await loadResources(file, io.cwd, io.stdin ?? readStdin);
    if (loaded.length === 0) {
      io.err(`trellis apply: no resources in ${file}\n`);
      return 0;
    }
    const result = await applyLoaded(connectControlPlane(str(p, 'control-plane'), io, str(p, 'state-dir')), loaded, dryRun);
    io.out(output === 'json' ? json(result) : output === 'yaml' ? yaml(result) : describeApply(result));
    return 0;
  },
};
