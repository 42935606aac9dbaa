import { connectControlPlane } from '../api.js';
import { choice, parse, str } from '../args.js';
import { json, table } from '../format.js';
import { UsageError, type Command } from '../io.js';
import { onSignals } from '../lifecycle.js';
import { attachedLine, TAP_FILTER_OPTIONS, tapMessages, tapQueryFromFlags } from '../tap-client.js';
import { TopTable, type TopRow } from '../top-rows.js';
import { parseWindow } from './stat.js';

export type { TopRow };

const usage = `Usage: trellis top [<workload>] [--direction inbound|outbound] [--method M] [--path P] [--status S] [--grpc-status G] [--interval D] [--duration D] [-o table|json] [--control-plane URL]

The busiest paths right now, from a live tap (see trellis tap) of every running proxy of
<workload> (name or namespace/name; every proxy when absent). One row per source, destination
service, method and path (without the query string), busiest first:

  COUNT     requests seen since the tap started
  SUCCESS   share of them that succeeded (status below 500 and, for gRPC, grpc-status OK:
            a gRPC call that fails in a 200 response counts as a failure)
  BEST, WORST, LAST   latency in ms
  STATUS    the last request's status; a gRPC call adds its grpc-status (200 grpc=UNAVAILABLE(14))
  LAST FAILURE   the status of the last failed request (- while none failed)

Once the tap is live it says "tapping <n> proxies of <workload>" on stderr. On a terminal
the table is redrawn every --interval; otherwise (or with --duration) the table is printed
once, when --duration ends or on Ctrl-C.

Options:
  --direction D           inbound (as served, default) or outbound (as sent)
  --method M, --path P, --status S, --grpc-status G   filters, as for trellis tap
                          (--status failed: only failed requests, gRPC ones included)
  --interval D            redraw period on a terminal, e.g. 2s, 500ms (default 2s)
  --duration D            stop after D and print the table
  -o, --output FORMAT     table (default) or json
  --control-plane URL     REST API (default: $TRELLIS_CONTROL_PLANE, else ./.trellis/control-plane.json, else the last "trellis up" (~/.config/trellis/context.json), else http://127.0.0.1:15000)
  -h, --help              this text
`;

const ms = (v: number): string => v.toFixed(1);

export function renderTop(rows: readonly TopRow[]): string {
  return table(
    ['SOURCE', 'DESTINATION', 'METHOD', 'PATH', 'COUNT', 'SUCCESS', 'BEST', 'WORST', 'LAST', 'STATUS', 'LAST FAILURE'],
    rows.map((r) => [
      r.source,
      r.destination,
      r.method,
      r.path,
      String(r.count),
      `${(r.successRate * 100).toFixed(2)}%`,
      ms(r.bestMs),
      ms(r.worstMs),
      ms(r.lastMs),
      r.lastStatus,
      r.lastFailure ?? '-',
    ]),
  );
}

function durationFlag(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const v = parseWindow(text);
  if (v === null) throw new UsageError(`--${flag} must be a duration such as 10s, 500ms or 1m (got "${text}")`, usage);
  return v;
}

export const topCommand: Command = {
  name: 'top',
  usage,
  async run(argv, io) {
    const p = parse(argv, { ...TAP_FILTER_OPTIONS, interval: { type: 'string' }, duration: { type: 'string' } }, usage, io.out, 1);
    if (p === null) return 0;
    const output = choice(p, 'output', ['table', 'json'] as const, 'table', usage);
    const query = tapQueryFromFlags({ ...p.values, direction: str(p, 'direction') ?? 'inbound' }, usage);
    const intervalMs = durationFlag(str(p, 'interval'), 'interval') ?? 2000;
    const durationMs = durationFlag(str(p, 'duration'), 'duration');
    const workload = p.positionals[0];
    const base = connectControlPlane(str(p, 'control-plane'), io);
    const live = output === 'table' && durationMs === undefined && process.stdout.isTTY === true;

    const top = new TopTable();
    let dropped = 0;
    const draw = (): void => io.out(`\x1b[H\x1b[2J${renderTop(top.rows())}${dropped > 0 ? `(${dropped} requests not seen: over the tap cap)\n` : ''}`);
    const stop = new AbortController();
    const undo = onSignals(
      () => stop.abort(),
      () => process.exit(130),
    );
    let stopTimer: NodeJS.Timeout | undefined;
    let redraw: NodeJS.Timeout | undefined;
    try {
      for await (const m of tapMessages(base, query, workload, stop.signal)) {
        if (m.kind === 'attached') {
          io.err(attachedLine(m.proxies, workload));
          // The duration counts from when the tap is live, so it covers what it promises.
          if (durationMs !== undefined) stopTimer = setTimeout(() => stop.abort(), durationMs);
          if (live) redraw = setInterval(draw, intervalMs);
        } else if (m.kind === 'request') top.add(m.event);
        else if (m.kind === 'dropped') dropped += m.count;
        else io.err(`trellis top: ${m.proxy}: ${m.message}\n`);
      }
    } finally {
      undo();
      clearTimeout(stopTimer);
      clearInterval(redraw);
    }
    if (live) draw();
    else if (output === 'json') io.out(json({ direction: query.direction, rows: top.rows(), dropped }));
    else io.out(renderTop(top.rows()) + (dropped > 0 ? `(${dropped} requests not seen: over the tap cap)\n` : ''));
    return 0;
  },
};
