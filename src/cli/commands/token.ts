import type { ApiTokenCreated, ApiTokenView, HostView, JoinTokenCreated, JoinTokenView } from '../../api/credentials.js';
import { parseDuration } from '../../util/duration.js';
import { connectControlPlane } from '../api.js';
import { choice, parse, str, type Parsed } from '../args.js';
import { json, relativeTime, table } from '../format.js';
import { UsageError, type Command, type Io } from '../io.js';
import { resourceCall } from '../resources-client.js';

const usage = `Usage: trellis token create --host <name> --service-account SA [--service-account SA ...] [--ttl 1h] [--address URL ...] [-o text|json]
       trellis token create --role admin|read --name <name> [--ttl DUR] [-o text|json]
       trellis token list [-o table|json]
       trellis token delete <id>
       trellis token delete --host <name>

Credentials for the control plane (an admin token is needed; the CLI finds the mesh's own:
docs/operations.md, "Credentials").

create --host makes a one-time join token for a new host (docs/multi-host.md, "Joining a host"):
it carries the CA's fingerprint and the control plane's https:// addresses, so on the new host
\`trellis agent <dir> --join <token-or-file>\` needs nothing else. The host may run only the
listed service accounts ([<namespace>/]<serviceAccount>, namespace "default" when left out;
either part may be *). Spent once; refused after --ttl (default 1h, at most 7d).

create --role makes an API token: admin (everything) or read (every read, tap and stats;
no writes), e.g. for Prometheus or a second user. Never expires unless --ttl is given.

Both print the token on stdout (only this once; the control plane keeps its hash) and what it
is on stderr. list shows API tokens, join tokens and joined hosts; delete revokes a token by its
id, or a joined host (its agent is refused from then on, its certificate notwithstanding).

Options:
  --host NAME             the new host's name (its agent id and certificate name)
  --service-account SA    what that host may run (repeatable; at least one)
  --address URL           https:// address of the REST API to put in the join token (repeatable;
                          default: the control plane's own, see --advertise-address)
  --role ROLE             admin or read
  --name NAME             what an API token is for (shown by list)
  --ttl DUR               lifetime (join tokens: default 1h)
  -o, --output FORMAT     text (default: the token alone) or json; list: table or json
  --control-plane URL     REST API (default: $TRELLIS_CONTROL_PLANE, else ./.trellis/control-plane.json, else the last "trellis up", else http://127.0.0.1:15000)
  -h, --help              this text
`;

const DEFAULT_JOIN_TTL_MS = 3600_000;

function ttlOf(p: Parsed): number | undefined {
  const text = str(p, 'ttl');
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined || ms < 1000) throw new UsageError(`--ttl must be a duration of at least 1s such as 1h or 30m (got "${text}")`, usage);
  return ms;
}

function list(p: Parsed, name: string): string[] {
  const v = p.values[name] as unknown;
  return Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : [];
}

async function create(p: Parsed, io: Io): Promise<number> {
  const host = str(p, 'host');
  const role = str(p, 'role');
  const output = choice(p, 'output', ['text', 'json'] as const, 'text', usage);
  if ((host === undefined) === (role === undefined)) throw new UsageError('create needs either --host (a join token) or --role (an API token)', usage);
  const conn = connectControlPlane(str(p, 'control-plane'), io);
  if (host !== undefined) {
    const serviceAccounts = list(p, 'service-account');
    if (serviceAccounts.length === 0) throw new UsageError('--service-account: name at least one service account the host may run (e.g. default/web, or shop/* for a whole namespace)', usage);
    const addresses = list(p, 'address');
    const created = await resourceCall<JoinTokenCreated>(conn, 'POST', '/join-tokens', {
      body: { host, ttlMs: ttlOf(p) ?? DEFAULT_JOIN_TTL_MS, serviceAccounts, ...(addresses.length > 0 ? { addresses } : {}) },
    });
    if (output === 'json') io.out(json(created));
    else {
      io.out(`${created.token}\n`);
      io.err(
        `trellis: join token ${created.id} for host ${created.host}, valid until ${created.expiresAt}, once; it may run ${created.serviceAccounts.join(', ')}\n` +
          `trellis: CA ${created.caFingerprint}, control plane ${created.addresses.join(', ')}\n` +
          `trellis: on ${created.host}: trellis agent <mesh dir> --join <this token, or a file holding it>\n`,
      );
    }
    return 0;
  }
  if (role !== 'admin' && role !== 'read') throw new UsageError(`--role must be admin or read (got "${role}")`, usage);
  const name = str(p, 'name');
  if (name === undefined) throw new UsageError('--name: say what the token is for (e.g. prometheus)', usage);
  const created = await resourceCall<ApiTokenCreated>(conn, 'POST', '/tokens', { body: { role, name, ttlMs: ttlOf(p) ?? null } });
  if (output === 'json') io.out(json(created));
  else {
    io.out(`${created.token}\n`);
    io.err(`trellis: ${created.role} token ${created.id} (${created.name})${created.expiresAt !== null ? `, valid until ${created.expiresAt}` : ''}\n`);
  }
  return 0;
}

async function listAll(p: Parsed, io: Io): Promise<number> {
  const output = choice(p, 'output', ['table', 'json'] as const, 'table', usage);
  const conn = connectControlPlane(str(p, 'control-plane'), io);
  const [apiTokens, joinTokens, hosts] = await Promise.all([
    resourceCall<ApiTokenView[]>(conn, 'GET', '/tokens'),
    resourceCall<JoinTokenView[]>(conn, 'GET', '/join-tokens'),
    resourceCall<HostView[]>(conn, 'GET', '/hosts'),
  ]);
  if (output === 'json') {
    io.out(json({ apiTokens, joinTokens, hosts }));
    return 0;
  }
  const now = Date.now();
  io.out(table(['API TOKEN', 'ROLE', 'NAME', 'CREATED', 'EXPIRES'], apiTokens.map((t) => [t.id, t.role, t.name, relativeTime(t.createdAt, now), t.expiresAt === null ? 'never' : relativeTime(t.expiresAt, now)])));
  io.out('\n');
  io.out(
    table(
      ['JOIN TOKEN', 'HOST', 'SERVICE ACCOUNTS', 'EXPIRES', 'USED'],
      joinTokens.map((t) => [t.id, t.host, t.serviceAccounts.join(','), relativeTime(t.expiresAt, now), t.usedAt === null ? 'no' : relativeTime(t.usedAt, now)]),
    ),
  );
  io.out('\n');
  io.out(table(['HOST', 'SERVICE ACCOUNTS', 'JOINED', 'TOKEN'], hosts.map((h) => [h.host, h.serviceAccounts.join(','), relativeTime(h.joinedAt, now), h.tokenId])));
  return 0;
}

async function remove(p: Parsed, io: Io): Promise<number> {
  const host = str(p, 'host');
  const id = p.positionals[1];
  if ((host === undefined) === (id === undefined)) throw new UsageError('delete needs a token id, or --host <name>', usage);
  const conn = connectControlPlane(str(p, 'control-plane'), io);
  if (host !== undefined) {
    await resourceCall(conn, 'DELETE', `/hosts/${encodeURIComponent(host)}`);
    io.out(`host ${host} removed: its agent is refused from now on\n`);
    return 0;
  }
  // An id is either an API token's or a join token's: try the API token first.
  try {
    await resourceCall(conn, 'DELETE', `/tokens/${encodeURIComponent(id as string)}`);
    io.out(`API token ${id} deleted\n`);
  } catch (err) {
    if ((err as { code?: string }).code !== 'TRELLIS_E_NOT_FOUND') throw err;
    await resourceCall(conn, 'DELETE', `/join-tokens/${encodeURIComponent(id as string)}`);
    io.out(`join token ${id} deleted\n`);
  }
  return 0;
}

export const tokenCommand: Command = {
  name: 'token',
  usage,
  async run(argv, io) {
    const p = parse(
      argv,
      {
        host: { type: 'string' },
        'service-account': { type: 'string', multiple: true },
        address: { type: 'string', multiple: true },
        role: { type: 'string' },
        name: { type: 'string' },
        ttl: { type: 'string' },
        output: { type: 'string', short: 'o' },
        'control-plane': { type: 'string' },
      },
      usage,
      io.out,
      2,
    );
    if (p === null) return 0;
    switch (p.positionals[0]) {
      case 'create':
        if (p.positionals.length > 1) throw new UsageError(`unexpected argument: ${p.positionals[1] ?? ''}`, usage);
        return create(p, io);
      case 'list':
        return listAll(p, io);
      case 'delete':
        return remove(p, io);
      default:
        throw new UsageError(p.positionals[0] === undefined ? 'what to do? create, list or delete' : `unknown action "${p.positionals[0]}" (create, list or delete)`, usage);
    }
  },
};
