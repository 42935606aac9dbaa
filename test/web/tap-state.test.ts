import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TapEvent } from '../../src/api/tap.js';
import { applyControlMessage, INITIAL_TAP_STATE, MAX_PROBLEMS, MAX_ROWS, parseTapMessage, prependArrivals, type TapControlMessage, type TapState } from '../../web/src/views/tap/tap-state.js';

function event(path: string): TapEvent {
  return {
    startedAt: 0,
    durationMs: 1,
    direction: 'inbound',
    protocol: 'http',
    proxy: { nodeId: 'n1', namespace: 'default', workload: 'web' },
    src: {},
    dst: { service: 'default/web' },
    method: 'GET',
    path,
    status: 200,
    bytesIn: 0,
    bytesOut: 0,
  };
}

const paths = (events: readonly TapEvent[]): string[] => events.map((e) => e.path);

test('parseTapMessage: a JSON object with a kind, else undefined', () => {
  assert.deepEqual(parseTapMessage('{"kind":"attached","proxies":["p1"]}'), { kind: 'attached', proxies: ['p1'] });
  for (const bad of ['', 'not json', '42', 'null', '"request"', '{"count":1}', '{"kind":3}']) assert.equal(parseTapMessage(bad), undefined, bad);
});

test('applyControlMessage: attached goes live, dropped adds up, errors keep the newest few', () => {
  let s: TapState = applyControlMessage(INITIAL_TAP_STATE, { kind: 'attached', proxies: ['p1', 'p2'] });
  assert.equal(s.status, 'live');
  assert.deepEqual(s.proxies, ['p1', 'p2']);
  s = applyControlMessage(s, { kind: 'dropped', proxy: 'p1', count: 3 });
  s = applyControlMessage(s, { kind: 'dropped', proxy: 'p2', count: 4 });
  assert.equal(s.dropped, 7);
  for (let i = 1; i <= MAX_PROBLEMS + 2; i++) s = applyControlMessage(s, { kind: 'error', proxy: `p${i}`, message: 'reset' });
  assert.equal(s.problems.length, MAX_PROBLEMS);
  assert.equal(s.problems[0], 'p3: reset');
  assert.equal(s.problems[MAX_PROBLEMS - 1], `p${MAX_PROBLEMS + 2}: reset`);
  assert.equal(s.status, 'live');
});

test('applyControlMessage: leaves the state it was given alone; an unknown kind changes nothing', () => {
  const before = structuredClone(INITIAL_TAP_STATE);
  applyControlMessage(INITIAL_TAP_STATE, { kind: 'error', proxy: 'p', message: 'm' });
  applyControlMessage(INITIAL_TAP_STATE, { kind: 'attached', proxies: ['p'] });
  assert.deepEqual(INITIAL_TAP_STATE, before);
  const future = { kind: 'renamed', proxy: 'p' } as unknown as TapControlMessage;
  assert.equal(applyControlMessage(INITIAL_TAP_STATE, future), INITIAL_TAP_STATE);
});

test('prependArrivals: the batch goes on top newest first, then the rows already shown', () => {
  const shown = [event('/3'), event('/2'), event('/1')];
  const arrived = [event('/4'), event('/5'), event('/6')];
  assert.deepEqual(paths(prependArrivals(shown, arrived)), ['/6', '/5', '/4', '/3', '/2', '/1']);
  assert.deepEqual(paths(shown), ['/3', '/2', '/1']);
  assert.deepEqual(paths(arrived), ['/4', '/5', '/6']);
});

test('prependArrivals: the oldest rows fall off beyond the cap', () => {
  const shown = [event('/3'), event('/2'), event('/1')];
  assert.deepEqual(paths(prependArrivals(shown, [event('/4'), event('/5')], 4)), ['/5', '/4', '/3', '/2']);
  assert.deepEqual(paths(prependArrivals(shown, [event('/4'), event('/5'), event('/6')], 2)), ['/6', '/5']);
  const many = Array.from({ length: MAX_ROWS + 10 }, (_, i) => event(`/${i}`));
  const kept = prependArrivals([], many);
  assert.equal(kept.length, MAX_ROWS);
  assert.equal(kept[0]!.path, `/${MAX_ROWS + 9}`);
});
