import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HttpRouteRuleConfig } from '../../../api/snapshot.js';
import { ManualClock } from '../../clock/manual-clock.js';
import { MAX_REPLAY_BODY_BYTES, NO_BODY, StreamedBody } from '../../pipeline/body.js';
import type { ExchangeInit } from '../../pipeline/exchange.js';
import { localReply } from '../../pipeline/service.js';
import {
  FakeAttempt, FakeBodySource, RecordingHandler, RecordingService, RecordingSink, clusterConfig, clusterTable, drain, exchange, randoms, ruleOf,
} from '../../testing/stage-harness.js';
import { RetryStage } from '../retry/retry.js';
import { MirrorStage } from './mirror.js';

const A = 'default/a:http';
const M1 = 'default/m1:http';
const M2 = 'default/m2:http';

function setup(mirrors: { cluster: string; percent?: number }[], over: Partial<ExchangeInit> = {}, random = randoms(0), extra: HttpRouteRuleConfig['filters'] = []) {
  const clock = new ManualClock();
  const clusters = clusterTable([clusterConfig(A), clusterConfig(M1), clusterConfig(M2)], clock);
  const next = new RecordingService();
  const stage = new MirrorStage({ clusters, random, clock }, next);
  const rule = ruleOf({ backends: [{ cluster: A }], filters: [...extra, ...mirrors.map((m) => ({ type: 'RequestMirror' as const, requestMirror: m }))] });
  const ex = exchange({ authority: 'svc:8080', headers: ['host', 'svc:8080', 'x-a', '1'], ...over });
  ex.rule = rule;
  ex.backend = A;
  ex.path = '/p';
  ex.query = 'q=1';
  const h = new RecordingHandler();
  return { clock, clusters, next, stage, ex, h, call: () => stage.call(ex, h) };
}

function streamed(): { body: StreamedBody; src: FakeBodySource } {
  const src = new FakeBodySource();
  return { body: new StreamedBody(src), src };
}

test('copies go out only once the body has ended, after the primary, one per mirror cluster', () => {
  const { body } = streamed();
  const s = setup([{ cluster: M1 }, { cluster: M2 }], { method: 'POST', body });
  body.push(Buffer.from('hello'));
  s.call();
  assert.equal(s.next.calls.length, 1);
  assert.equal(s.next.calls[0]!.ex, s.ex);
  assert.equal(s.next.calls[0]!.handler, s.h);
  body.end(null);
  assert.deepEqual(s.next.calls.map((c) => c.backend), [A, M1, M2]);
  for (const c of s.next.calls.slice(1)) {
    assert.notEqual(c.ex, s.ex);
    assert.equal(drain(c.ex.body).text, 'hello', 'the copy replays the kept body');
    assert.equal(c.ex.body.chunks[0], body.chunks[0], 'the same chunks, not copies');
  }
});

test('a body with no bytes is mirrored at once', () => {
  const s = setup([{ cluster: M1 }], { body: NO_BODY });
  s.call();
  assert.deepEqual(s.next.calls.map((c) => c.backend), [A, M1]);
  assert.equal(s.next.calls[1]!.ex.body, NO_BODY);
});

test('a body too large to keep is not mirrored', () => {
  const { body } = streamed();
  const s = setup([{ cluster: M1 }], { method: 'POST', body });
  s.call();
  const sink = new RecordingSink();
  body.attach(sink);
  body.push(Buffer.alloc(MAX_REPLAY_BODY_BYTES + 1));
  body.end(null);
  assert.equal(body.intact, false);
  assert.equal(s.next.calls.length, 1);
});

test('each mirror is rolled against its percentage with the injected random; unknown clusters are skipped', () => {
  const s = setup([{ cluster: M1, percent: 50 }, { cluster: M2, percent: 50 }, { cluster: 'default/ghost:http' }], {}, randoms(0.6, 0.4));
  s.call();
  assert.deepEqual(s.next.calls.map((c) => c.backend), [A, M2]);
});

test('the copy carries the request with a -shadow authority (port kept); its edits are its own', () => {
  const s = setup([{ cluster: M1 }]);
  const primary = s.ex.editRequest();
  primary.setField('x-route', '1');
  primary.target = '/p?q=1';
  s.ex.deadline = 5_000;
  s.call();
  const copy = s.next.calls[1]!.ex;
  assert.equal(copy.requestEdits?.authority, 'svc-shadow:8080');
  assert.deepEqual(copy.requestEdits?.set, ['x-route', '1']);
  assert.equal(copy.requestEdits?.target, '/p?q=1');
  assert.notEqual(copy.requestEdits, primary);
  assert.equal(primary.authority, undefined, 'the primary\'s edits are unchanged');
  assert.equal(s.ex.requestEdits, primary);
  assert.deepEqual(
    { method: copy.method, target: copy.target, headers: copy.headers, path: copy.path, query: copy.query, deadline: copy.deadline, upgrade: copy.upgrade, host: copy.host },
    { method: 'GET', target: '/', headers: s.ex.headers, path: '/p', query: 'q=1', deadline: 5_000, upgrade: false, host: 'svc:8080' },
  );
});

test('a rewritten authority is the one shadowed', () => {
  const s = setup([{ cluster: M1 }], {}, randoms(0), [{ type: 'URLRewrite', urlRewrite: { hostname: 'new.example' } }]);
  s.ex.editRequest().authority = 'new.example';
  s.call();
  assert.equal(s.next.calls[1]!.ex.requestEdits?.authority, 'new.example-shadow');
  assert.equal(s.ex.requestEdits?.authority, 'new.example');
});

test('a copy without any edits on the primary still gets a shadow authority', () => {
  const s = setup([{ cluster: M1 }]);
  s.call();
  assert.equal(s.ex.requestEdits, null, 'the primary gets no edits');
  assert.equal(s.next.calls[1]!.ex.requestEdits?.authority, 'svc-shadow:8080');
});

test('the copies\' answers are discarded: nothing reaches the caller\'s handler', () => {
  const s = setup([{ cluster: M1 }]);
  s.call();
  const copy = s.next.calls[1]!;
  copy.handler.onHead(copy.ex, new FakeAttempt({ status: 500 }));
  copy.handler.onData(copy.ex, Buffer.from('x'));
  copy.handler.onEnd(copy.ex, null);
  copy.handler.onLocal(copy.ex, localReply(503, 'connect-failed', 'x'));
  assert.equal(s.h.events.length, 0);
  assert.equal(copy.ex.status, 0);
});

test('an upgrade is not mirrored', () => {
  const s = setup([{ cluster: M1 }], { upgrade: true });
  s.call();
  assert.equal(s.next.calls.length, 1);
});

test('a retried exchange is mirrored once, not once per try', () => {
  // The outbound stack puts retry above mirror: each try goes down through the mirror stage.
  const clock = new ManualClock();
  const clusters = clusterTable([clusterConfig(A), clusterConfig(M1)], clock);
  const next = new RecordingService();
  const stack = new RetryStage({ clusters, clock, random: randoms(0) }, new MirrorStage({ clusters, random: randoms(0), clock }, next));
  const ex = exchange();
  ex.rule = ruleOf({
    backends: [{ cluster: A }],
    filters: [{ type: 'RequestMirror', requestMirror: { cluster: M1 } }],
    retry: { codes: [503], attempts: 2, backoffMs: 0 },
  });
  ex.backend = A;
  const h = new RecordingHandler();
  stack.call(ex, h);
  const primaryTries = () => next.calls.filter((c) => c.ex === ex);
  primaryTries()[0]!.handler.onHead(ex, new FakeAttempt({ status: 503 }));
  primaryTries()[1]!.handler.onHead(ex, new FakeAttempt({ status: 200 }));
  assert.equal(primaryTries().length, 2);
  assert.deepEqual(h.kinds, ['head']);
  assert.equal(next.calls.filter((c) => c.ex !== ex).length, 1, 'one copy per exchange');
});
