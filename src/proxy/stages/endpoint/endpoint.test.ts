import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_REPLAY_BODY_BYTES, StreamedBody } from '../../pipeline/body.js';
import type { ExchangeInit } from '../../pipeline/exchange.js';
import { CancelReason, localReply } from '../../pipeline/service.js';
import { FakeBodySource, RecordingHandler, RecordingSink, exchange, pairs } from '../../testing/stage-harness.js';
import type { FakeAttemptInit } from '../../testing/stage-harness.js';
import { FakeLease, FakeLeaseSource, FakeStarters } from '../../testing/stage-leases.js';
import { EndpointStage } from './endpoint.js';
import { MAX_MESH_FAILOVERS } from './failover.js';

function setup(over: Partial<ExchangeInit> = {}) {
  const leases = new FakeLeaseSource();
  const starters = new FakeStarters();
  const stage = new EndpointStage({ leases, attempts: starters });
  const ex = exchange(over);
  const h = new RecordingHandler();
  return { leases, starters, stage, ex, h, call: () => stage.call(ex, h) };
}

/** A peer proxy's own answer: status and trellis-reason. */
const meshAnswer = (status: number, reason: string, extra: FakeAttemptInit = {}): FakeAttemptInit => ({ status, headers: ['trellis-reason', reason], ...extra });

/** A body that went past the replay limit while an attempt had it. */
function overflowedBody(): StreamedBody {
  const b = new StreamedBody(new FakeBodySource());
  const s = new RecordingSink();
  b.attach(s);
  b.push(Buffer.alloc(MAX_REPLAY_BODY_BYTES + 1));
  b.detach(s);
  assert.equal(b.intact, false);
  return b;
}

test('an admit refusal (circuit breaker) is answered without asking for a connection', () => {
  const s = setup();
  s.leases.refuse = localReply(503, 'overloaded', 'full');
  s.call();
  assert.equal(s.h.local.reason, 'overloaded');
  assert.equal(s.leases.wants.length, 0);
  assert.equal(s.starters.started.length, 0);
});

test('a lease failure is answered and the permit given back', () => {
  const s = setup();
  s.call();
  assert.equal(s.ex.pending !== null, true, 'waiting for a connection is cancellable');
  s.leases.fail(localReply(503, 'connect-failed', 'refused'));
  assert.equal(s.h.local.reason, 'connect-failed');
  assert.equal(s.leases.permits[0]!.releases, 1);
  assert.equal(s.ex.pending, null);
  assert.equal(s.starters.started.length, 0);
});

test('a lease starts an attempt with the exchange\'s codec; head, data and end pass on; the permit is given back once', () => {
  for (const protocol of ['http1', 'http2'] as const) {
    const s = setup({ protocol });
    s.call();
    assert.deepEqual({ exclude: s.leases.wants[0]!.exclude, fresh: s.leases.wants[0]!.fresh }, { exclude: undefined, fresh: false });
    const lease = new FakeLease('spiffe://test.local/ns/default/sa/backend');
    s.leases.lend(lease);
    const a = s.starters.last;
    assert.equal(a.protocol, protocol);
    assert.equal(a.lease, lease);
    assert.equal(s.ex.upstreamPeer, 'spiffe://test.local/ns/default/sa/backend');
    a.handler.onHead(s.ex, a.attempt);
    a.handler.onData(s.ex, Buffer.from('x'));
    a.handler.onEnd(s.ex, null);
    assert.deepEqual(s.h.kinds, ['head', 'data', 'end']);
    assert.equal(s.leases.permits[0]!.releases, 1);
    assert.equal(s.ex.pending, null);
    s.ex.cancel(CancelReason.Client);
    assert.equal(s.leases.permits[0]!.releases, 1, 'a cancel after the end gives nothing back twice');
    assert.deepEqual(a.attempt.aborts, []);
  }
});

test('fields the lease adds (a sticky cookie) become response edits', () => {
  const s = setup();
  s.call();
  s.leases.lend(new FakeLease(undefined, undefined, ['set-cookie', 'sticky=1']));
  s.starters.last.handler.onHead(s.ex, s.starters.last.attempt);
  assert.deepEqual(pairs(s.ex.responseEdits!.add), [['set-cookie', 'sticky=1']]);
});

for (const [status, reason, method] of [
  [503, 'app-unavailable', 'POST'],
  [503, 'draining', 'POST'],
  [502, 'upstream-reset', 'GET'],
] as const) {
  test(`mesh failover: a peer's ${status} ${reason} to ${method} goes to another endpoint, the first avoided`, () => {
    const s = setup({ method });
    const k1 = {};
    const k2 = {};
    const first = new FakeLease('p1', k1);
    s.starters.init = (i) => (i === 0 ? meshAnswer(status, reason) : {});
    s.call();
    s.leases.lend(first);
    const a1 = s.starters.last;
    a1.handler.onHead(s.ex, a1.attempt);
    assert.deepEqual(a1.attempt.aborts, [true], 'the answer is dropped with its connection');
    assert.equal(first.unavailableCalls, 1);
    assert.equal(s.h.events.length, 0);
    assert.equal(s.leases.wants.length, 2);
    assert.deepEqual(s.leases.wants[1]!.exclude, [k1]);
    s.leases.lend(new FakeLease('p2', k2));
    const a2 = s.starters.last;
    a2.handler.onHead(s.ex, a2.attempt);
    a2.handler.onEnd(s.ex, null);
    assert.deepEqual(s.h.kinds, ['head', 'end']);
    assert.equal((s.h.events[0] as { attempt: unknown }).attempt, a2.attempt);
    assert.equal(s.leases.permits.length, 1, 'one permit for the whole exchange');
    assert.equal(s.leases.permits[0]!.releases, 1);
  });
}

test('no failover on a 502 upstream-reset to a non-idempotent request', () => {
  const s = setup({ method: 'POST' });
  s.starters.init = () => meshAnswer(502, 'upstream-reset');
  s.call();
  s.leases.lend(new FakeLease('p1', {}));
  s.starters.last.handler.onHead(s.ex, s.starters.last.attempt);
  assert.deepEqual(s.h.kinds, ['head']);
  assert.equal(s.leases.wants.length, 1);
});

test('no failover on a 503 without trellis-reason (the app\'s own), nor without a failover key', () => {
  const plain = setup();
  plain.starters.init = () => ({ status: 503 });
  plain.call();
  plain.leases.lend(new FakeLease('p1', {}));
  plain.starters.last.handler.onHead(plain.ex, plain.starters.last.attempt);
  assert.deepEqual(plain.h.kinds, ['head']);
  const single = setup();
  single.starters.init = () => meshAnswer(503, 'app-unavailable');
  single.call();
  single.leases.lend(new FakeLease('p1', undefined));
  single.starters.last.handler.onHead(single.ex, single.starters.last.attempt);
  assert.deepEqual(single.h.kinds, ['head']);
});

test('no failover when the body was not kept whole', () => {
  const s = setup({ method: 'POST', body: overflowedBody() });
  s.starters.init = () => meshAnswer(503, 'app-unavailable');
  s.call();
  s.leases.lend(new FakeLease('p1', {}));
  s.starters.last.handler.onHead(s.ex, s.starters.last.attempt);
  assert.deepEqual(s.h.kinds, ['head']);
});

test('gRPC: a trailers-only answer with trellis-reason app-unavailable fails over; an upstream-reset does not', () => {
  const grpc: Partial<ExchangeInit> = { protocol: 'http2', method: 'POST', grpc: true };
  const s = setup(grpc);
  s.starters.init = (i) => (i === 0 ? meshAnswer(200, 'app-unavailable', { endStream: true, grpcStatus: 14 }) : {});
  s.call();
  s.leases.lend(new FakeLease('p1', {}));
  s.starters.last.handler.onHead(s.ex, s.starters.last.attempt);
  assert.equal(s.leases.wants.length, 2);
  assert.equal(s.h.events.length, 0);
  const r = setup(grpc);
  r.starters.init = () => meshAnswer(200, 'upstream-reset', { endStream: true, grpcStatus: 14 });
  r.call();
  r.leases.lend(new FakeLease('p1', {}));
  r.starters.last.handler.onHead(r.ex, r.starters.last.attempt);
  assert.deepEqual(r.h.kinds, ['head']);
  const body = setup(grpc);
  body.starters.init = () => meshAnswer(200, 'app-unavailable', { endStream: false });
  body.call();
  body.leases.lend(new FakeLease('p1', {}));
  body.starters.last.handler.onHead(body.ex, body.starters.last.attempt);
  assert.deepEqual(body.h.kinds, ['head'], 'a 200 with a body is an answer, whatever its fields');
});

test(`at most ${MAX_MESH_FAILOVERS} failovers; every key tried is excluded`, () => {
  const s = setup();
  s.starters.init = () => meshAnswer(503, 'app-unavailable');
  s.call();
  const keys: object[] = [];
  for (let i = 0; i <= MAX_MESH_FAILOVERS; i++) {
    const k = {};
    keys.push(k);
    s.leases.lend(new FakeLease(`p${i}`, k));
    s.starters.last.handler.onHead(s.ex, s.starters.last.attempt);
  }
  assert.equal(s.starters.started.length, MAX_MESH_FAILOVERS + 1);
  assert.deepEqual(s.leases.wants.map((w) => w.exclude), [undefined, ...keys.slice(0, MAX_MESH_FAILOVERS).map((_, i) => keys.slice(0, i + 1))]);
  assert.deepEqual(s.h.kinds, ['head'], 'the last answer goes to the caller');
  assert.deepEqual(s.starters.last.attempt.aborts, []);
});

test('an unsent attempt (a pooled connection found dead) is sent once more on a fresh connection', () => {
  const s = setup({ method: 'POST' });
  s.starters.init = () => ({ unsent: true });
  s.call();
  s.leases.lend(new FakeLease());
  s.starters.last.handler.onLocal(s.ex, localReply(502, 'upstream-reset', 'closed'));
  assert.equal(s.h.events.length, 0);
  assert.equal(s.leases.wants.length, 2);
  assert.equal(s.leases.wants[1]!.fresh, true);
  s.leases.lend(new FakeLease());
  s.starters.last.handler.onLocal(s.ex, localReply(502, 'upstream-reset', 'closed again'));
  assert.equal(s.h.local.message, 'closed again', 'only once');
  assert.equal(s.leases.wants.length, 2);
  assert.equal(s.leases.permits[0]!.releases, 1);
});

test('an unsent failure the codec reports synchronously while starting is also sent once more, fresh', () => {
  // startHttp2Attempt calls handler.onLocal inside start() when session.request throws
  // (GOAWAY between the lease and the request), with unsent = true.
  const s = setup({ protocol: 'http2', method: 'POST' });
  s.starters.init = (i) => (i === 0 ? { unsent: true } : {});
  s.starters.onStart = (st) => {
    if (st.attempt.unsent) st.handler.onLocal(st.ex, localReply(503, 'connect-failed', 'session closed'));
  };
  s.call();
  s.leases.lend(new FakeLease());
  assert.equal(s.leases.wants.length, 2, 'a second lease is asked for');
  assert.equal(s.leases.wants[1]?.fresh, true);
  assert.equal(s.h.events.length, 0);
});

test('an unsent failure is not sent again once the body is no longer whole', () => {
  const s = setup({ method: 'POST', body: overflowedBody() });
  s.starters.init = () => ({ unsent: true });
  s.call();
  s.leases.lend(new FakeLease());
  s.starters.last.handler.onLocal(s.ex, localReply(502, 'upstream-reset', 'closed'));
  assert.equal(s.h.local.reason, 'upstream-reset');
  assert.equal(s.leases.wants.length, 1);
});

test('cancel(Client) during the attempt aborts it as no failure of the endpoint and gives the permit back once', () => {
  const s = setup();
  s.call();
  s.leases.lend(new FakeLease());
  const a = s.starters.last.attempt;
  s.ex.cancel(CancelReason.Client);
  assert.deepEqual(a.aborts, [false]);
  assert.equal(s.leases.permits[0]!.releases, 1);
  assert.equal(s.h.events.length, 0);
  s.ex.cancel(CancelReason.Timeout);
  assert.deepEqual(a.aborts, [false]);
  assert.equal(s.leases.permits[0]!.releases, 1);
});

test('cancel(Timeout) during the attempt aborts it as a failure of the endpoint', () => {
  const s = setup();
  s.call();
  s.leases.lend(new FakeLease());
  s.ex.cancel(CancelReason.Timeout);
  assert.deepEqual(s.starters.last.attempt.aborts, [true]);
  assert.equal(s.leases.permits[0]!.releases, 1);
});

test('cancel while waiting for a connection withdraws the request; a lease arriving later is given back unused', () => {
  const s = setup();
  s.call();
  s.ex.cancel(CancelReason.Client);
  assert.equal(s.leases.wants[0]!.withdrawn, true);
  assert.equal(s.leases.permits[0]!.releases, 1);
  const late = new FakeLease();
  s.leases.lend(late);
  assert.deepEqual(late.releases, [{ reusable: true, failed: false, grpcStatus: undefined }]);
  assert.equal(s.starters.started.length, 0);
  assert.equal(s.h.events.length, 0);
  assert.equal(s.leases.permits[0]!.releases, 1);
});

test('a lease lent synchronously inside acquire starts the attempt at once', () => {
  const s = setup();
  s.leases.autoLease = () => new FakeLease();
  s.call();
  assert.equal(s.starters.started.length, 1);
  s.starters.last.handler.onHead(s.ex, s.starters.last.attempt);
  s.starters.last.handler.onEnd(s.ex, null);
  assert.deepEqual(s.h.kinds, ['head', 'end']);
});

test('a stage above aborting the attempt after its head (a retry) gives the permit back; the handler hears nothing more', () => {
  const s = setup();
  s.call();
  s.leases.lend(new FakeLease());
  const a = s.starters.last;
  a.handler.onHead(s.ex, a.attempt);
  a.attempt.abort(false);
  assert.equal(s.leases.permits[0]!.releases, 1);
  assert.equal(s.ex.pending, null);
  s.ex.cancel(CancelReason.Client);
  assert.equal(s.leases.permits[0]!.releases, 1);
  assert.deepEqual(a.attempt.aborts, [false], 'not aborted again by the cancel');
});

test('an abort notice for an attempt that is no longer current (a failover dropped it) changes nothing', () => {
  const s = setup();
  s.starters.init = (i) => (i === 0 ? meshAnswer(503, 'app-unavailable') : {});
  s.call();
  s.leases.lend(new FakeLease('p1', {}));
  const first = s.starters.last;
  first.handler.onHead(s.ex, first.attempt);
  assert.deepEqual(first.attempt.aborts, [true]);
  assert.equal(s.leases.permits[0]!.releases, 0, 'the failover keeps the permit');
  assert.equal(s.ex.pending !== null, true);
  s.leases.lend(new FakeLease('p2', {}));
  s.starters.last.handler.onHead(s.ex, s.starters.last.attempt);
  s.starters.last.handler.onEnd(s.ex, null);
  assert.equal(s.leases.permits[0]!.releases, 1);
});
