import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WorkloadView } from '../../api/registry.js';
import type { TapMessage } from '../../api/tap.js';
import { parseTapQuery } from '../../telemetry/tap-filter.js';
import { HttpError } from '../api/http-error.js';
import { mergeTaps, type MergeOptions, type TapOutput } from './tap-merge.js';
import { tapTargets } from './tap-targets.js';

export interface ServeTapOptions extends MergeOptions {
  /** SSE comment sent this often so proxies and browsers keep an idle stream open. Default 15 s. */
  heartbeatMs?: number;
}

/**
 * GET /api/v1/tap (src/api/tap.ts): opens GET /tap on the admin listener of every running
 * replica of the workload (every proxy without `workload=`) and merges their NDJSON streams.
 * `accept: text/event-stream` gets the same messages as SSE `data:` frames. A bad parameter
 * (400) or an unknown workload (404) is thrown before anything is written; afterwards the
 * stream never fails, it reports broken proxies as `error` messages.
 */
export async function serveTap(req: IncomingMessage, res: ServerResponse, url: URL, workloads: readonly WorkloadView[], options: ServeTapOptions = {}): Promise<void> {
  const parsed = parseTapQuery(url.searchParams, ['workload']);
  if (!parsed.ok) throw new HttpError(400, 'TRELLIS_E_USAGE', parsed.message);
  const targets = tapTargets(workloads, url.searchParams.get('workload'));
  const sse = (req.headers.accept ?? '').includes('text/event-stream');

  res.writeHead(200, {
    'content-type': sse ? 'text/event-stream' : 'application/x-ndjson',
    'cache-control': 'no-store',
  });
  res.flushHeaders();
  const clientGone = new AbortController();
  const onClose = (): void => clientGone.abort();
  res.once('close', onClose);
  const heartbeat = sse ? setInterval(() => res.write(': heartbeat\n\n'), options.heartbeatMs ?? 15_000) : null;
  heartbeat?.unref();

  let draining: Promise<void> | null = null;
  const output: TapOutput = {
    send: (m: TapMessage) => res.write(sse ? `data: ${JSON.stringify(m)}\n\n` : `${JSON.stringify(m)}\n`),
    drained: () =>
      (draining ??= new Promise<void>((resolve) => {
        const done = (): void => {
          res.off('drain', done);
          res.off('close', done);
          draining = null;
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      })),
  };
  try {
    await mergeTaps(targets, parsed.query, output, clientGone.signal, options);
  } finally {
    if (heartbeat !== null) clearInterval(heartbeat);
    res.off('close', onClose);
    res.end();
  }
}
