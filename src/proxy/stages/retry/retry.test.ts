import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RetryBudgetConfig, RouteRetryConfig } from '../../../api/snapshot.js';
import { ManualClock } from '../../clock/manual-clock.js';
import { MAX_REPLAY_BODY_BYTES, StreamedBody } from '../../pipeline/body.js';
import type { ExchangeInit } from '../../pipeline/exchange.js';
import { CancelReason, localReply } from '../../pipeline/service.js';
import {
  FakeAttempt, FakeBodySource, RecordingHandler, RecordingService, RecordingSink, clusterConfig, clusterTable, exchange, randoms, ruleOf,
} from '../../testing/stage-harness.js';
import { FakeLease, FakeLeaseSource, FakeStarters } from '../../testing/stage-leases.js';
import { EndpointStage } from '../endpoint/endpoint.js';
import { RetryStage } from './retry.js';

const A = 'default/a:http';

interface Options {
  retry?: RouteRetryConfig | undefined;
  budget?: RetryBudgetConfig;
  random?: () => number;
  grpcRule?: boolean;
}

function setup(over: Partial<ExchangeInit> = {}, o: Options = {}) {
  const clock = new ManualClock();
  const clusters = clusterTable([clusterConfig(A, o.budget !== undefined ? { retryBudget: o.budget } : {})], clock);
  const next = new RecordingService();
  const stage = new RetryStage({ clusters, clock, random: o.random ?? randoms(0) }, next);
  const ex = exchange({ start: clock.now(), ...over });
  const retry = 'retry' in o ? o.retry : { codes: [503], attempts: 2, backoffMs: 0 };
  ex.rule = ruleOf({ backends: [{ cluster: A }], ...(retry !== undefined ? { retry } : {}) }, o.grpcRule === true ? 'GRPCRoute' : 'HTTPRoute');
  ex.backend = A;
  const h = new RecordingHandler();
  return { clock, clusters, next, stage, ex, h, call: () => stage.call(ex, h) };
}

type S = ReturnType<typeof setup>;
/** The current try answers with a head. */
function head(s: S, init: ConstructorParameters<typeof FakeAttempt>[0] = {}): FakeAttempt {
  const a = new FakeAttempt(init);
  s.next.last.handler.onHead(s.ex, a);
  return a;
}
/** The current try fails before a head. */
function fail(s: S, status: number, reason: string): void {
  s.next.last.handler.onLocal(s.ex, localReply(status, reason as never, reason));
}

test('a configured status is dropped (aborted once; its status, not the retry, tells the endpoint\'s health) and tried again; ex.retries counts', () => {
  const s = setup();
  s.call();
  const a = head(s, { status: 503 });
  assert.deepEqual(a.aborts, [false]);
  assert.equal(s.h.events.length, 0);
  assert.equal(s.next.calls.length, 2);
  assert.equal(s.ex.retries, 1);
  const ok = head(s, { status: 200 });
  assert.deepEqual(ok.aborts, []);
  assert.deepEqual(s.h.kinds, ['head']);
  assert.equal((s.h.events[0] as { attempt: unknown }).attempt, ok);
});

test('a status not configured passes on', () => {
  const s = setup();
  s.call();
  const a = head(s, { status: 500 });
  assert.deepEqual(a.aborts, []);
  assert.deepEqual(s.h.kinds, ['head']);
  assert.equal(s.next.calls.length, 1);
});

test('never past the attempts: the last retryable answer goes to the caller', () => {
  const s = setup();
  s.call();
  head(s, { status: 503 });
  head(s, { status: 503 });
  const last = head(s, { status: 503 });
  assert.equal(s.next.calls.length, 3);
  assert.equal(s.ex.retries, 2);
  assert.deepEqual(last.aborts, []);
  assert.deepEqual(s.h.kinds, ['head']);
});

test('a connect failure is retried for any method', () => {
  for (const reason of ['connect-failed', 'peer-refused', 'no-endpoints']) {
    const s = setup({ method: 'POST' });
    s.call();
    fail(s, 503, reason);
    assert.equal(s.next.calls.length, 2, reason);
    assert.equal(s.h.events.length, 0, reason);
  }
});

test('a reset or a try timeout is retried only for idempotent methods', () => {
  for (const [reason, status] of [['upstream-reset', 502], ['upstream-timeout', 504]] as const) {
    const get = setup({ method: 'GET' });
    get.call();
    fail(get, status, reason);
    assert.equal(get.next.calls.length, 2, `GET ${reason}`);
    const post = setup({ method: 'POST' });
    post.call();
    fail(post, status, reason);
    assert.equal(post.next.calls.length, 1, `POST ${reason}`);
    assert.equal(post.h.local.reason, reason);
  }
});

test('other failures (a bad response, overloaded) are not retried', () => {
  for (const reason of ['upstream-bad-response', 'overloaded']) {
    const s = setup();
    s.call();
    fail(s, 502, reason);
    assert.equal(s.next.calls.length, 1, reason);
  }
});

test('gRPC: a reset is retried when the policy retries UNAVAILABLE, a try timeout when it retries DEADLINE_EXCEEDED', () => {
  const grpc: Partial<ExchangeInit> = { method: 'POST', grpc: true, protocol: 'http2', headers: ['content-type', 'application/grpc'] };
  const unavailable = setup(grpc, { grpcRule: true, retry: { codes: [], grpcCodes: [14], attempts: 1, backoffMs: 0 } });
  unavailable.call();
  fail(unavailable, 502, 'upstream-reset');
  assert.equal(unavailable.next.calls.length, 2);
  const noDeadline = setup(grpc, { grpcRule: true, retry: { codes: [], grpcCodes: [14], attempts: 1, backoffMs: 0 } });
  noDeadline.call();
  fail(noDeadline, 504, 'upstream-timeout');
  assert.equal(noDeadline.next.calls.length, 1);
  const deadline = setup(grpc, { grpcRule: true, retry: { codes: [], grpcCodes: [4], attempts: 1, backoffMs: 0 } });
  deadline.call();
  fail(deadline, 504, 'upstream-timeout');
  assert.equal(deadline.next.calls.length, 2);
});

test('gRPC: a trailers-only answer with a configured grpc-status is retried; one with a body is not', () => {
  const grpc: Partial<ExchangeInit> = { method: 'POST', grpc: true, protocol: 'http2', headers: ['content-type', 'application/grpc'] };
  const s = setup(grpc, { grpcRule: true, retry: { codes: [], grpcCodes: [14], attempts: 1, backoffMs: 0 } });
  s.call();
  const a = head(s, { status: 200, endStream: true, grpcStatus: 14 });
  assert.deepEqual(a.aborts, [false]);
  assert.equal(s.next.calls.length, 2);
  const b = setup(grpc, { grpcRule: true, retry: { codes: [], grpcCodes: [14], attempts: 1, backoffMs: 0 } });
  b.call();
  head(b, { status: 200, endStream: false });
  assert.equal(b.next.calls.length, 1);
  assert.deepEqual(b.h.kinds, ['head']);
});

test('never when the body was not kept whole', () => {
  const body = new StreamedBody(new FakeBodySource());
  const sink = new RecordingSink();
  body.attach(sink);
  body.push(Buffer.alloc(MAX_REPLAY_BODY_BYTES + 1));
  const s = setup({ method: 'PUT', body });
  s.call();
  const a = head(s, { status: 503 });
  assert.deepEqual(a.aborts, []);
  assert.deepEqual(s.h.kinds, ['head']);
});

test('never once the deadline has passed', () => {
  const s = setup();
  s.ex.deadline = s.clock.now() + 100;
  s.call();
  s.clock.advance(100);
  head(s, { status: 503 });
  assert.equal(s.next.calls.length, 1);
  assert.deepEqual(s.h.kinds, ['head']);
});

test('never when the cluster\'s retry budget refuses', () => {
  const s = setup({}, { budget: { percent: 0, minRetriesPerSecond: 0 } });
  s.call();
  fail(s, 503, 'connect-failed');
  assert.equal(s.next.calls.length, 1);
  assert.equal(s.h.local.reason, 'connect-failed');
  assert.equal(s.ex.retries, 0);
});

test('never after the head went downstream or once the exchange is cancelled', () => {
  const sent = setup();
  sent.call();
  sent.ex.headSent = true;
  fail(sent, 502, 'upstream-reset');
  assert.equal(sent.next.calls.length, 1);
  const gone = setup();
  gone.call();
  gone.ex.cancelled = CancelReason.Client;
  fail(gone, 503, 'connect-failed');
  assert.equal(gone.next.calls.length, 1);
});

test('backoff: waits backoffMs plus jitter (injected random) on the clock, then tries again', () => {
  const s = setup({}, { retry: { codes: [503], attempts: 1, backoffMs: 100 }, random: randoms(0.5) });
  s.call();
  head(s, { status: 503 });
  assert.equal(s.next.calls.length, 1);
  assert.ok(s.ex.pending !== null, 'the backoff is what the exchange waits on');
  s.clock.advance(149);
  assert.equal(s.next.calls.length, 1);
  s.clock.advance(1);
  assert.equal(s.next.calls.length, 2);
  assert.equal(s.next.last.retries, 1);
  assert.equal(s.ex.pending, null);
});

test('cancel during the backoff clears its timer; no new try', () => {
  const s = setup({}, { retry: { codes: [503], attempts: 1, backoffMs: 100 }, random: randoms(0) });
  s.call();
  head(s, { status: 503 });
  assert.equal(s.clock.pendingTimers, 1);
  s.ex.cancel(CancelReason.Timeout);
  assert.equal(s.clock.pendingTimers, 0);
  s.clock.advance(1_000);
  assert.equal(s.next.calls.length, 1);
  assert.equal(s.h.events.length, 0);
  assert.equal(s.ex.retries, 0, 'a retry abandoned during its backoff was never made');
});

test('an upgrade, a rule without retries, or no rule passes straight through', () => {
  const up = setup({ upgrade: true, headers: ['upgrade', 'websocket'] });
  up.call();
  assert.equal(up.next.last.handler, up.h);
  const none = setup({}, { retry: undefined });
  none.call();
  assert.equal(none.next.last.handler, none.h);
  const noRule = setup();
  noRule.ex.rule = null;
  noRule.call();
  assert.equal(noRule.next.last.handler, noRule.h);
});

test('retrying a response head gives the endpoint stage\'s circuit-breaker permit back', () => {
  // retry -> endpoint: the first try answers 503 (retried), the second 200 and ends.
  const clock = new ManualClock();
  const clusters = clusterTable([clusterConfig(A)], clock);
  const leases = new FakeLeaseSource();
  leases.autoLease = () => new FakeLease();
  const starters = new FakeStarters();
  starters.init = (i) => ({ status: i === 0 ? 503 : 200 });
  const stage = new RetryStage({ clusters, clock, random: randoms(0) }, new EndpointStage({ leases, attempts: starters }));
  const ex = exchange({ start: clock.now() });
  ex.rule = ruleOf({ backends: [{ cluster: A }], retry: { codes: [503], attempts: 1, backoffMs: 0 } });
  ex.backend = A;
  const h = new RecordingHandler();
  stage.call(ex, h);
  const first = starters.last;
  first.handler.onHead(ex, first.attempt);
  assert.equal(first.attempt.aborts.length, 1);
  assert.equal(starters.started.length, 2);
  assert.equal(leases.permits[0]!.releases, 1, 'the dropped try gave its permit back');
  const second = starters.last;
  second.handler.onHead(ex, second.attempt);
  second.handler.onEnd(ex, null);
  assert.deepEqual(h.kinds, ['head', 'end']);
  assert.equal(leases.permits.length, 2);
  assert.equal(leases.permitsHeld, 0, 'every permit taken is given back');
});

// 429 / RESOURCE_EXHAUSTED: never retried blindly (issue 11, Part 4).
const throttled = { codes: [429], attempts: 2, backoffMs: 25 };

test('a 429 with retry-after is retried only after that wait, not after the backoff', () => {
  const s = setup({}, { retry: throttled });
  s.call();
  const a = head(s, { status: 429, headers: ['retry-after', '2'] });
  assert.deepEqual(a.aborts, [false]);
  s.clock.advance(1_999);
  assert.equal(s.next.calls.length, 1, 'still waiting what the server asked');
  s.clock.advance(1);
  assert.equal(s.next.calls.length, 2);
  assert.equal(s.ex.retries, 1);
});

test('a 429 whose retry-after ends past the deadline goes to the caller at once', () => {
  const s = setup({}, { retry: throttled });
  s.ex.deadline = s.clock.now() + 1_500;
  s.call();
  const a = head(s, { status: 429, headers: ['retry-after', '2'] });
  assert.deepEqual(a.aborts, []);
  assert.deepEqual(s.h.kinds, ['head']);
  assert.equal(s.clock.pendingTimers, 0);
});

test('without a deadline, a retry-after longer than MAX_THROTTLE_WAIT_MS is not waited for', () => {
  const s = setup({}, { retry: throttled });
  s.call();
  head(s, { status: 429, headers: ['retry-after', '11'] });
  assert.deepEqual(s.h.kinds, ['head']);
  assert.equal(s.next.calls.length, 1);
});

test('a 429 without retry-after waits the usual backoff; an HTTP-date retry-after is read against the wall clock', () => {
  const plain = setup({}, { retry: throttled });
  plain.call();
  head(plain, { status: 429 });
  plain.clock.advance(25);
  assert.equal(plain.next.calls.length, 2);
  const dated = setup({}, { retry: throttled });
  dated.call();
  const at = new Date(dated.clock.epochMs() + 3_000).toUTCString(); // whole seconds: 2-3 s from now
  head(dated, { status: 429, headers: ['retry-after', at] });
  dated.clock.advance(1_900);
  assert.equal(dated.next.calls.length, 1);
  dated.clock.advance(1_100);
  assert.equal(dated.next.calls.length, 2);
});

test('a 429 the route does not list is never retried, whatever its retry-after', () => {
  const s = setup({}, { retry: { codes: [503], attempts: 2, backoffMs: 0 } });
  s.call();
  head(s, { status: 429, headers: ['retry-after', '0'] });
  assert.deepEqual(s.h.kinds, ['head']);
});

test('gRPC RESOURCE_EXHAUSTED honours grpc-retry-pushback-ms; a negative one means do not retry (gRFC A6)', () => {
  const grpc = { grpc: true, headers: ['content-type', 'application/grpc'] };
  const retry = { codes: [], grpcCodes: [8], attempts: 1, backoffMs: 0 };
  const wait = setup(grpc, { grpcRule: true, retry });
  wait.call();
  head(wait, { status: 200, endStream: true, grpcStatus: 8, headers: ['grpc-retry-pushback-ms', '300'] });
  wait.clock.advance(299);
  assert.equal(wait.next.calls.length, 1);
  wait.clock.advance(1);
  assert.equal(wait.next.calls.length, 2);
  const never = setup(grpc, { grpcRule: true, retry });
  never.call();
  head(never, { status: 200, endStream: true, grpcStatus: 8, headers: ['grpc-retry-pushback-ms', '-1'] });
  assert.deepEqual(never.h.kinds, ['head']);
  assert.equal(never.next.calls.length, 1);
});
