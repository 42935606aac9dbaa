/**
 * A load loop for zero-failure assertions: runs a request function with fixed concurrency until
 * stopped, and counts successes and failures with their details (status, trellis-reason, error).
 */
import { request, type Agent } from 'undici';

export interface Outcome {
  ok: boolean;
  status?: number;
  reason?: string | null;
  error?: string;
  detail?: string;
}

export interface Failure extends Outcome {
  /** Milliseconds since the loop started (for the report, not for assertions). */
  atMs: number;
}

export interface LoadStats {
  ok: number;
  failed: number;
  failures: Failure[];
}

export interface LoadLoop {
  stats(): LoadStats;
  /** Stops issuing new requests, waits for the ones in flight, returns the totals. */
  stop(): Promise<LoadStats>;
  /** Resolves once at least n more requests succeeded than when called (bounded by timeoutMs). */
  waitForOk(n: number, timeoutMs?: number): Promise<void>;
}

const MAX_KEPT_FAILURES = 50;

export function loadLoop(fn: () => Promise<Outcome>, opts: { concurrency?: number } = {}): LoadLoop {
  const concurrency = opts.concurrency ?? 4;
  const started = Date.now();
  const stats: LoadStats = { ok: 0, failed: 0, failures: [] };
  let running = true;

  const worker = async (): Promise<void> => {
    while (running) {
      let outcome: Outcome;
      try {
        outcome = await fn();
      } catch (err) {
        outcome = { ok: false, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
      }
      if (outcome.ok) stats.ok += 1;
      else {
        stats.failed += 1;
        if (stats.failures.length < MAX_KEPT_FAILURES) stats.failures.push({ ...outcome, atMs: Date.now() - started });
        // A request that fails at once (a closed client) must not spin: timers and signals still run.
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  const workers = Array.from({ length: concurrency }, () => worker());

  return {
    stats: () => ({ ok: stats.ok, failed: stats.failed, failures: [...stats.failures] }),
    async stop() {
      running = false;
      await Promise.all(workers);
      return { ok: stats.ok, failed: stats.failed, failures: [...stats.failures] };
    },
    async waitForOk(n, timeoutMs = 30_000) {
      const target = stats.ok + n;
      const deadline = Date.now() + timeoutMs;
      while (stats.ok < target) {
        if (Date.now() > deadline) throw new Error(`load loop: ${target - stats.ok} of ${n} successes missing after ${timeoutMs} ms (failed ${stats.failed})`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** A request function for loadLoop: GET url, ok when the status is 200 (and `accept` agrees). */
export function httpGetOutcome(url: string, dispatcher: Agent, accept?: (body: string) => boolean): () => Promise<Outcome> {
  return async () => {
    const res = await request(url, { dispatcher, headersTimeout: 15_000, bodyTimeout: 15_000 });
    const body = await res.body.text();
    const reasonHeader = res.headers['trellis-reason'];
    const reason = Array.isArray(reasonHeader) ? reasonHeader.join(',') : (reasonHeader ?? null);
    const ok = res.statusCode === 200 && (accept === undefined || accept(body));
    return { ok, status: res.statusCode, reason, ...(ok ? {} : { detail: body.slice(0, 200) }) };
  };
}

/** One line per kept failure, for assertion messages. */
export function describeFailures(stats: LoadStats): string {
  return stats.failures
    .map((f) => `  +${f.atMs}ms status=${f.status ?? '-'} reason=${f.reason ?? '-'} ${f.error ?? ''} ${f.detail ?? ''}`.trimEnd())
    .join('\n');
}
