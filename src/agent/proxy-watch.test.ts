import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Clock } from '../util/clock.js';
import type { ProxyReadiness } from './probe.js';
import { PROXY_FAILURE_THRESHOLD, watchProxy } from './proxy-watch.js';

/** A clock whose sleeps end at once (on the next turn), so the loop runs as fast as its probes. */
const instant: Clock = {
  now: () => 0,
  setTimeout: (fn) => {
    const t = setImmediate(fn);
    return { cancel: () => clearImmediate(t) };
  },
  sleep: () => new Promise((r) => setImmediate(r)),
};

/** Runs the watch over scripted probe answers; returns what was recycled and when (probe index). */
async function run(script: ProxyReadiness[], proxies: string[] = ['p1']): Promise<{ recycled: [string, string, number][]; probes: number }> {
  const abort = new AbortController();
  const recycled: [string, string, number][] = [];
  let probes = 0;
  let current: string | null = proxies[0] ?? null;
  await watchProxy<string>({
    clock: instant,
    periodMs: 1000,
    signal: abort.signal,
    readyUrl: 'http://127.0.0.1:1/ready',
    serving: () => current,
    probe: () => {
      const r = script[probes++];
      if (r === undefined) abort.abort();
      return Promise.resolve(r ?? { state: 'ready' });
    },
    recycle: (p, why) => {
      recycled.push([p, why.state, probes]);
      // The replica restarts it: the next proxy is a new one.
      current = proxies[recycled.length] ?? null;
      if (current === null) abort.abort();
      return Promise.resolve();
    },
  });
  return { recycled, probes };
}

const ready: ProxyReadiness = { state: 'ready' };
const draining: ProxyReadiness = { state: 'draining' };
const down: ProxyReadiness = { state: 'unreachable', reason: 'ECONNREFUSED' };
const expired: ProxyReadiness = { state: 'not-ready', reason: '503 certificate expired' };

test('a draining proxy is recycled at its first draining answer', async () => {
  const r = await run([ready, ready, draining], ['p1']);
  assert.deepEqual(r.recycled, [['p1', 'draining', 3]]);
});

test(`a proxy that fails ${PROXY_FAILURE_THRESHOLD} probes in a row is recycled; fewer, or interrupted by a ready answer, is not`, async () => {
  const some = await run([down, expired, ready, down, ready, expired, expired, ready]);
  assert.deepEqual(some.recycled, [], 'never three in a row');
  const three = await run([ready, down, expired, down], ['p1']);
  assert.deepEqual(three.recycled, [['p1', 'unreachable', 4]]);
});

test('the next proxy starts with no failures counted against it', async () => {
  const r = await run([down, down, down, down, down, ready, down, down, down], ['p1', 'p2', 'p3']);
  assert.deepEqual(r.recycled, [
    ['p1', 'unreachable', 3],
    ['p2', 'unreachable', 9],
  ]);
});
