import { request, type Dispatcher } from 'undici';
import type { TapMessage, TapQuery } from '../../api/tap.js';
import { tapQueryParams } from '../../telemetry/tap-filter.js';
import { ndjsonLines } from '../../telemetry/tap-lines.js';
import type { TapTarget } from './tap-targets.js';

/** Where merged messages go (an NDJSON or SSE response). */
export interface TapOutput {
  /** false: the client is behind; wait for drained() before sending more. */
  send(message: TapMessage): boolean;
  drained(): Promise<void>;
}

export interface MergeOptions {
  /** For the proxy's response head and its `attached` line. Default 5000 ms. */
  attachTimeoutMs?: number;
  /** The client for an https admin URL (a proxy's remote admin listener on another host); default undici's. */
  dispatcherFor?: (url: string) => Dispatcher | undefined;
}

/**
 * Opens GET /tap on every target with the same query, waits until each attached or failed,
 * sends one `attached` naming the attached proxies (and one `error` per failed one), then
 * forwards `request` and `dropped` lines as they come, stopping after `max` requests in total
 * or when `signal` aborts (the client left). Every upstream request is aborted on the way out.
 * A proxy whose stream breaks later is reported as `error`. Never rejects.
 */
export async function mergeTaps(targets: readonly TapTarget[], query: TapQuery, out: TapOutput, signal: AbortSignal, options: MergeOptions = {}): Promise<void> {
  const upstream = new AbortController();
  let finished = false;
  const stopAll = (): void => {
    finished = true;
    upstream.abort();
  };
  signal.addEventListener('abort', stopAll, { once: true });
  if (signal.aborted) stopAll();
  const path = `/tap?${tapQueryParams(query).toString()}`;
  const max = query.max ?? Infinity;
  const attachTimeoutMs = options.attachTimeoutMs ?? 5000;
  let forwarded = 0;
  let releaseAll!: () => void;
  const allAttached = new Promise<void>((resolve) => (releaseAll = resolve));

  // Sends one message unless the merge is over; waits while the client is behind.
  const forward = async (m: TapMessage): Promise<void> => {
    if (finished) return;
    if (m.kind === 'request' && ++forwarded >= max) {
      out.send(m);
      stopAll();
      return;
    }
    if (!out.send(m)) await out.drained();
  };

  const pumps = targets.map(async (t): Promise<{ lines: AsyncGenerator<string> } | { error: string }> => {
    try {
      const url = `${t.adminUrl}${path}`;
      const dispatcher = options.dispatcherFor?.(url);
      const res = await request(url, {
        ...(dispatcher !== undefined ? { dispatcher } : {}),
        signal: upstream.signal,
        headersTimeout: attachTimeoutMs,
        bodyTimeout: 0,
      });
      if (res.statusCode !== 200) {
        const text = (await res.body.text()).trim();
        return { error: `admin /tap answered ${res.statusCode}: ${text.slice(0, 200)}` };
      }
      const lines = ndjsonLines(res.body);
      // A proxy that answered but never says `attached` must not hold back the others.
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<'stalled'>((resolve) => (timer = setTimeout(() => resolve('stalled'), attachTimeoutMs)));
      const first = await Promise.race([lines.next(), stalled]).finally(() => clearTimeout(timer));
      if (first === 'stalled') {
        res.body.destroy();
        return { error: `admin /tap sent no attached line within ${attachTimeoutMs} ms` };
      }
      if (first.done === true || (JSON.parse(first.value) as TapMessage).kind !== 'attached') {
        await lines.return(undefined);
        return { error: 'admin /tap sent no attached line' };
      }
      return { lines };
    } catch (err) {
      return { error: describe(err) };
    }
  });

  const runs = pumps.map(async (opened, i): Promise<void> => {
    const o = await opened;
    if (!('lines' in o)) return;
    await allAttached;
    const proxy = targets[i]!.nodeId;
    try {
      for await (const line of o.lines) {
        if (finished) break;
        const m = JSON.parse(line) as TapMessage;
        if (m.kind === 'request' || m.kind === 'dropped') await forward(m);
      }
      if (!finished) await forward({ kind: 'error', proxy, message: 'tap stream ended (the proxy stopped)' });
    } catch (err) {
      if (!finished && !upstream.signal.aborted) await forward({ kind: 'error', proxy, message: describe(err) });
    }
  });

  const opened = await Promise.all(pumps);
  if (!finished) {
    const proxies = targets.filter((_, i) => 'lines' in opened[i]!).map((t) => t.nodeId);
    out.send({ kind: 'attached', proxies });
    for (const [i, o] of opened.entries()) {
      if ('error' in o) out.send({ kind: 'error', proxy: targets[i]!.nodeId, message: o.error });
    }
  }
  releaseAll();
  await Promise.all(runs);
  stopAll();
  signal.removeEventListener('abort', stopAll);
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e.code !== undefined ? `${e.code}: ${e.message ?? ''}` : (e.message ?? String(err));
}
