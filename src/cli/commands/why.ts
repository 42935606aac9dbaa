import type { WhyAnswer } from '../../api/why.js';
import { apiGet, connectControlPlane } from '../api.js';
import { choice, parse, str } from '../args.js';
import { json } from '../format.js';
import { UsageError, type Command } from '../io.js';

const usage = `Usage: trellis why <source-service> <target> [--path P] [--method M] [--header name=value]...
                   [-o text|json] [--control-plane URL]

What the mesh would do with one request from <source-service>'s app to <target>, and why:
the route and rule that match, the backends they send to, and each callee's authorization
decision (the policy or default that decides, AUDIT and rate limits that cover it). Answered
by the control plane from the snapshots it compiled, with the proxies' own path normalizer,
route matcher and policy evaluator: it says what the proxies do, not a second opinion.

Arguments:
  <source-service>        the calling service (or workload): name or namespace/name
  <target>                service, service:port or namespace/service:port (the port may be left
                          out when the caller reaches one port of the service)

Options:
  --path P                request path and query as the app sends it (default /)
  --method M              request method (default GET; POST for a gRPC port)
  --header name=value     a request header (repeatable); the host header defaults to the
                          target service's name
  -o, --output FORMAT     text (default) or json
  --control-plane URL     REST API (default: $TRELLIS_CONTROL_PLANE, else ./.trellis/control-plane.json, else the last "trellis up" (~/.config/trellis/context.json), else http://127.0.0.1:15000)
  -h, --help              this text

Exit status: 0 when the request would be served by the app, 1 when the mesh would refuse or
fail it (denied, bad path, no route...), 2 for usage errors.
`;

const OUTCOME_TEXT: Record<WhyAnswer['outcome'], string> = {
  allowed: 'ALLOWED: served by the app',
  denied: 'DENIED: 403 unauthorized (gRPC PERMISSION_DENIED)',
  'bad-path': 'REFUSED: 400 bad-path',
  'no-route': 'REFUSED: 404 no-route',
  redirect: 'REDIRECTED by the caller\'s proxy',
  'no-backend': 'FAILED: 500 no-backend',
  'unknown-cluster': 'FAILED: the caller\'s proxy has no such upstream (unknown-cluster)',
  'no-endpoints': 'FAILED: 503, no ready endpoint',
};

/** The human rendering: the verdict, then each step in the order the mesh takes it. */
export function renderWhy(a: WhyAnswer): string {
  const lines = [`${a.request.method} ${a.request.path}${a.request.query !== '' ? `?${a.request.query}` : ''} from ${a.source.service} to ${a.target.cluster}`, `=> ${OUTCOME_TEXT[a.outcome]}`, ''];
  for (const [i, s] of a.explanation.entries()) lines.push(`${i + 1}. ${s}`);
  return `${lines.join('\n')}\n`;
}

export const whyCommand: Command = {
  name: 'why',
  usage,
  async run(argv, io) {
    const p = parse(
      argv,
      {
        path: { type: 'string' },
        method: { type: 'string' },
        header: { type: 'string', multiple: true },
        output: { type: 'string', short: 'o' },
        'control-plane': { type: 'string' },
      },
      usage,
      io.out,
      2,
    );
    if (p === null) return 0;
    const [source, target] = p.positionals;
    if (source === undefined || target === undefined) throw new UsageError('expected <source-service> and <target>', usage);
    const output = choice(p, 'output', ['text', 'json'] as const, 'text', usage);
    const q = new URLSearchParams({ source, target });
    const method = str(p, 'method');
    const path = str(p, 'path');
    if (method !== undefined) q.set('method', method);
    if (path !== undefined) q.set('path', path);
    const raw = p.values.header as unknown;
    for (const h of Array.isArray(raw) ? (raw as string[]) : []) {
      const eq = h.indexOf('=');
      if (eq <= 0) throw new UsageError(`--header must be name=value, got "${h}"`, usage);
      q.append('header', `${h.slice(0, eq)}:${h.slice(eq + 1)}`);
    }
    const base = connectControlPlane(str(p, 'control-plane'), io);
    const answer = await apiGet<WhyAnswer>(base, `/why?${q.toString()}`);
    io.out(output === 'json' ? json(answer) : renderWhy(answer));
    return answer.outcome === 'allowed' ? 0 : 1;
  },
};
