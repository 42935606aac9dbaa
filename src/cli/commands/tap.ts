import type { TapEvent } from '../../api/tap.js';
import { tapStatusText } from '../../telemetry/tap-status.js';
import { connectControlPlane } from '../api.js';
import { choice, parse, str } from '../args.js';
import type { Command } from '../io.js';
import { onSignals } from '../lifecycle.js';
import { attachedLine, shortIdentity, TAP_FILTER_OPTIONS, tapMessages, tapQueryFromFlags } from '../tap-client.js';

const usage = `Usage: trellis tap [<workload>] [--direction inbound|outbound] [--method M] [--path P] [--status S] [--grpc-status G] [--max N] [-o text|json] [--control-plane URL]

Live requests as the proxies see them: the control plane opens a tap on every running proxy
of <workload> (name or namespace/name; every proxy when absent) and prints one line per
finished request. Once the tap is live it says "tapping <n> proxies of <workload>" on stderr.

  text:  <time> <direction> <source> -> <destination> <METHOD> <path> <status> [grpc=<NAME>(<code>)] <ms>ms [<reason>] [trace=<id>]
         (a gRPC call shows its grpc-status: a failed call is "200 grpc=UNAVAILABLE(14)")
  json:  one TapEvent per line (see docs/observability.md)

Each proxy sends at most 200 requests per second per tap; what it leaves out (over that cap,
or while this reader is behind) is reported on stderr as "not shown".

Options:
  --direction D           inbound (as served) or outbound (as sent); default both
  --method M              only this method (GET, POST, ...)
  --path P                only request paths starting with P (the query string is ignored)
  --status S              only this status (503), class (5xx), 0 (no response), or failed:
                          no response, a 5xx, or a gRPC call whose grpc-status is not OK
  --grpc-status G         only gRPC calls that ended with this grpc-status: a code 0-16 or a
                          name (14, unavailable, deadline-exceeded)
  --max N                 stop after N requests (1..100000); default: until Ctrl-C
  -o, --output FORMAT     text (default) or json
  --control-plane URL     REST API (default: $TRELLIS_CONTROL_PLANE, else ./.trellis/control-plane.json, else the last "trellis up" (~/.config/trellis/context.json), else http://127.0.0.1:15000)
  -h, --help              this text
`;

/** One request as a text line (UTC time of day of its start). */
export function formatTapLine(e: TapEvent): string {
  const time = new Date(e.startedAt).toISOString().slice(11, 23);
  let line = `${time} ${e.direction} ${shortIdentity(e.src.identity)} -> ${e.dst.service} ${e.method} ${e.path} ${tapStatusText(e.status, e.grpcStatus)} ${e.durationMs.toFixed(1)}ms`;
  if (e.reason !== undefined) line += ` ${e.reason}`;
  if (e.traceId !== undefined) line += ` trace=${e.traceId}`;
  return line;
}

export const tapCommand: Command = {
  name: 'tap',
  usage,
  async run(argv, io) {
    const p = parse(argv, { ...TAP_FILTER_OPTIONS, max: { type: 'string' } }, usage, io.out, 1);
    if (p === null) return 0;
    const output = choice(p, 'output', ['text', 'json'] as const, 'text', usage);
    const query = tapQueryFromFlags(p.values, usage);
    const workload = p.positionals[0];
    const base = connectControlPlane(str(p, 'control-plane'), io);
    const stop = new AbortController();
    const undo = onSignals(
      () => stop.abort(),
      () => process.exit(130),
    );
    try {
      for await (const m of tapMessages(base, query, workload, stop.signal)) {
        switch (m.kind) {
          case 'attached':
            io.err(attachedLine(m.proxies, workload));
            break;
          case 'request':
            io.out(output === 'json' ? `${JSON.stringify(m.event)}\n` : `${formatTapLine(m.event)}\n`);
            break;
          case 'dropped':
            io.err(`trellis tap: ${m.count} requests at ${m.proxy} not shown (over the cap, or this reader was behind)\n`);
            break;
          case 'error':
            io.err(`trellis tap: ${m.proxy}: ${m.message}\n`);
            break;
        }
      }
    } finally {
      undo();
    }
    return 0;
  },
};
