/**
 * `--tap`: keeps a live tap open on both Trellis proxies for the whole scenario, to measure
 * what an open tap costs the data path. The tap matches every request (no filter), so each
 * proxy matches all of them and serialises up to its cap (200 events/s per tap); the rest are
 * counted as dropped. The bench reads the streams itself (not through the control plane), so
 * the only extra work is in the proxies.
 */
import { request } from 'undici';
import type { TapMessage } from '../src/api/tap.js';
import { ndjsonLines } from '../src/telemetry/tap-lines.js';

export interface TapTotals {
  /** Request events received. */
  events: number;
  /** Events the proxies reported dropped (over the cap, or while this reader was behind). */
  dropped: number;
}

export interface OpenTaps {
  /** Closes the taps; resolves with what they carried. */
  stop(): Promise<TapTotals>;
}

/** Opens GET /tap on each admin URL and resolves once every one has said `attached`. */
export async function openTaps(adminUrls: readonly string[]): Promise<OpenTaps> {
  const abort = new AbortController();
  const totals: TapTotals = { events: 0, dropped: 0 };
  const readers = await Promise.all(
    adminUrls.map(async (url) => {
      const res = await request(`${url}/tap`, { signal: abort.signal, bodyTimeout: 0 });
      if (res.statusCode !== 200) throw new Error(`${url}/tap answered ${res.statusCode}: ${await res.body.text()}`);
      const lines = ndjsonLines(res.body);
      const first = await lines.next();
      if (first.done === true || (JSON.parse(first.value) as TapMessage).kind !== 'attached') throw new Error(`${url}/tap sent no attached line`);
      // Wrapped: an async function returning the reader's promise would wait for it to end.
      const reading = (async () => {
        try {
          for await (const line of lines) {
            const m = JSON.parse(line) as TapMessage;
            if (m.kind === 'request') totals.events++;
            else if (m.kind === 'dropped') totals.dropped += m.count;
          }
        } catch {
          // aborted by stop()
        }
      })();
      return { reading };
    }),
  );
  return {
    async stop() {
      abort.abort();
      await Promise.all(readers.map((r) => r.reading));
      return totals;
    },
  };
}
