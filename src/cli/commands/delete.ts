import { RESOURCE_KINDS } from '../../api/resources.js';
import { kindFromName } from '../../config/resources/validate.js';
import { connectControlPlane } from '../api.js';
import { parse, str } from '../args.js';
import { UsageError, type Command } from '../io.js';
import { resourceCall } from '../resources-client.js';

const usage = `Usage: trellis delete <kind> <name> [-n namespace] [--control-plane URL] [--state-dir D]

Deletes one mesh resource (kinds: ${RESOURCE_KINDS.join(', ')}; lower case and plurals work).
Exit 5 when it does not exist.

Options:
  -n, --namespace NS      namespace (default "default")
  --control-plane URL     REST API (default: $TRELLIS_CONTROL_PLANE, else ./.trellis/control-plane.json, else the last "trellis up" (~/.config/trellis/context.json), else http://127.0.0.1:15000)
  --state-dir D           where the API token is read from (<D>/admin-token; default: the state directory of the mesh found)
  -h, --help              this text
`;

export const deleteCommand: Command = {
  name: 'delete',
  usage,
  async run(argv, io) {
    const p = parse(argv, { namespace: { type: 'string', short: 'n' }, 'control-plane': { type: 'string' }, 'state-dir': { type: 'string' } }, usage, io.out, 2);
    if (p === null) return 0;
    const [k, name] = p.positionals;
    if (k === undefined || name === undefined) throw new UsageError('expected <kind> <name>', usage);
    const kind = kindFromName(k);
    if (kind === undefined) throw new UsageError(`unknown kind "${k}" (one of ${RESOURCE_KINDS.join(', ')})`, usage);
    const ns = str(p, 'namespace') ?? 'default';
    const conn = connectControlPlane(str(p, 'control-plane'), io, str(p, 'state-dir'));
    await resourceCall(conn, 'DELETE', `/resources/${kind}/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`);
    io.out(`${kind} ${ns}/${name} deleted\n`);
    return 0;
  },
};
