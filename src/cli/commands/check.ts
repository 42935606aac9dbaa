import type { CheckReport } from '../../api/registry.js';
import { apiGet, connectControlPlane } from '../api.js';
import { choice, parse, str } from '../args.js';
import { json, table, yaml } from '../format.js';
import type { Command } from '../io.js';

const usage = `Usage: trellis check [-o text|json|yaml] [--control-plane URL]

Runs the control plane's health checks (GET /api/v1/check) and prints each with ok or FAIL.
Exit 0 if every check passed, 1 if any failed, 4 if the control plane is unreachable.

Options:
  -o, --output FORMAT     text (default), json or yaml
  --control-plane URL     REST API (default: $TRELLIS_CONTROL_PLANE, else ./.trellis/control-plane.json, else the last "trellis up" (~/.config/trellis/context.json), else http://127.0.0.1:15000)
  -h, --help              this text
`;

export const checkCommand: Command = {
  name: 'check',
  usage,
  async run(argv, io) {
    const p = parse(argv, { output: { type: 'string', short: 'o' }, 'control-plane': { type: 'string' } }, usage, io.out, 0);
    if (p === null) return 0;
    const output = choice(p, 'output', ['text', 'table', 'json', 'yaml'] as const, 'text', usage);
    const report = await apiGet<CheckReport>(connectControlPlane(str(p, 'control-plane'), io), '/check');
    if (output === 'json') io.out(json(report));
    else if (output === 'yaml') io.out(yaml(report));
    else {
      const rows = report.checks.map((c) => [c.ok ? 'ok' : 'FAIL', c.name, c.detail]);
      io.out(table(['STATUS', 'CHECK', 'DETAIL'], rows));
      const failed = report.checks.filter((c) => !c.ok).length;
      io.out(failed === 0 ? `all ${report.checks.length} checks passed\n` : `${failed} of ${report.checks.length} checks failed\n`);
    }
    return report.ok && report.checks.every((c) => c.ok) ? 0 : 1;
  },
};
