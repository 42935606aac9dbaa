import { test } from 'node:test';
import assert from 'node:assert/strict';
import { INBOUND, INGRESS, RecordingHandler, RecordingService, exchange, pairs } from '../../testing/stage-harness.js';
import type { Exchange, ExchangeInit } from '../../pipeline/exchange.js';
import { NormalizeStage } from './normalize.js';
import type { NormalizeConfig } from './normalize.js';

function run(role: NormalizeConfig['role'], over: Partial<ExchangeInit>): { ex: Exchange; next: RecordingService; h: RecordingHandler } {
  const next = new RecordingService();
  const stage = new NormalizeStage({ role }, next);
  const ex = exchange(over);
  const h = new RecordingHandler();
  stage.call(ex, h);
  return { ex, next, h };
}

test('a normal path passes with no request edits at all', () => {
  const { ex, next } = run('outbound', { target: '/a/b?x=1' });
  assert.equal(next.calls.length, 1);
  assert.equal(ex.path, '/a/b');
  assert.equal(ex.query, 'x=1');
  assert.equal(ex.requestEdits, null, 'forwarded as received');
});

test('a path that changes is forwarded as the edit target, its query kept as received', () => {
  const { ex, next } = run('outbound', { target: '/a/./b/../c//%7Euser?q=%2F&r' });
  assert.equal(next.calls.length, 1);
  assert.equal(ex.path, '/a/c/~user');
  assert.equal(ex.query, 'q=%2F&r');
  assert.equal(ex.requestEdits?.target, '/a/c/~user?q=%2F&r');
});

test('a changed path without a query is forwarded without "?"', () => {
  const { ex } = run('outbound', { target: '/a/../b' });
  assert.equal(ex.requestEdits?.target, '/b');
  assert.equal(ex.query, '');
});

test('absolute-form becomes origin-form; the target authority wins over Host', () => {
  const { ex, next } = run('outbound', { target: 'http://api.example:8080/v1/x?y=2', headers: ['host', 'other.example'], authority: 'other.example' });
  assert.equal(next.calls.length, 1);
  assert.equal(ex.host, 'api.example:8080');
  assert.equal(ex.requestEdits?.authority, 'api.example:8080');
  assert.equal(ex.requestEdits?.target, '/v1/x?y=2');
  assert.equal(ex.path, '/v1/x');
  assert.equal(ex.query, 'y=2');
});

test('absolute-form without a path forwards "/"', () => {
  const { ex } = run('outbound', { target: 'http://api.example' });
  assert.equal(ex.host, 'api.example');
  assert.equal(ex.requestEdits?.target, '/');
});

test('absolute-form whose authority ends at "?" (no path): the query is not part of the authority (RFC 3986 §3.2)', () => {
  const { ex } = run('outbound', { target: 'http://api.example?y=2' });
  assert.equal(ex.host, 'api.example');
  assert.equal(ex.requestEdits?.authority, 'api.example');
  assert.equal(ex.requestEdits?.target, '/?y=2');
  assert.equal(ex.query, 'y=2');
});

test('CONNECT (authority-form) and "*" (asterisk-form) are not normalized', () => {
  const c = run('outbound', { method: 'CONNECT', target: 'db.example:5432', headers: [], authority: 'db.example:5432' });
  assert.equal(c.next.calls.length, 1);
  assert.equal(c.ex.path, 'db.example:5432');
  assert.equal(c.ex.requestEdits, null);
  assert.equal(c.ex.host, 'db.example:5432');
  const o = run('outbound', { method: 'OPTIONS', target: '*' });
  assert.equal(o.next.calls.length, 1);
  assert.equal(o.ex.path, '*');
  assert.equal(o.ex.requestEdits, null);
});

test('a path that cannot be normalized safely is refused 400 bad-path; next is never called', () => {
  for (const target of ['/a%2Fb', '/a%5cb', '/a\\b', '/a%00', '/a%zz']) {
    const { next, h } = run('outbound', { target });
    assert.equal(next.calls.length, 0, target);
    assert.equal(h.local.status, 400, target);
    assert.equal(h.local.reason, 'bad-path', target);
  }
});

test('outbound: a client request loses every trellis-* field; forwarding headers pass', () => {
  const { ex } = run('outbound', {
    headers: ['host', 'svc', 'trellis-peer-identity', 'spiffe://x/ns/a/sa/admin', 'trellis-reason', 'x', 'x-forwarded-for', '10.0.0.1'],
  });
  const e = ex.requestEdits!;
  assert.ok(e !== null);
  assert.equal(e.drops('trellis-peer-identity'), true);
  assert.equal(e.drops('trellis-reason'), true);
  assert.equal(e.drops('x-forwarded-for'), false);
  assert.equal(e.set, null);
  assert.equal(ex.responseEdits, null);
});

test('inbound: trellis-peer-identity is set from the verified peer, a forged one dropped; one policy per peer', () => {
  const peer = 'spiffe://test.local/ns/default/sa/caller';
  const next = new RecordingService();
  const stage = new NormalizeStage({ role: 'inbound' }, next);
  const a = exchange({ site: INBOUND, peer, headers: ['host', 'svc', 'trellis-peer-identity', 'spiffe://forged', 'x-forwarded-client-cert', 'By=x'] });
  stage.call(a, new RecordingHandler());
  assert.deepEqual(pairs(a.requestEdits!.set), [['trellis-peer-identity', peer]]);
  assert.equal(a.requestEdits!.drops('trellis-peer-identity'), true);
  assert.equal(a.requestEdits!.drops('x-forwarded-client-cert'), true);
  const other = 'spiffe://test.local/ns/default/sa/other';
  const b = exchange({ site: INBOUND, peer: other });
  stage.call(b, new RecordingHandler());
  assert.deepEqual(pairs(b.requestEdits!.set), [['trellis-peer-identity', other]]);
});

test('inbound without a verified peer sets no identity', () => {
  const { ex } = run('inbound', { site: INBOUND, peer: null, headers: ['host', 'svc', 'trellis-peer-identity', 'forged'] });
  assert.equal(ex.requestEdits!.drops('trellis-peer-identity'), true);
  assert.equal(ex.requestEdits!.set, null);
});

test('inbound removes an app\'s own trellis-reason from its answers (shared response edits)', () => {
  const { ex } = run('inbound', { site: INBOUND, peer: 'spiffe://test.local/ns/default/sa/caller' });
  assert.ok(ex.responseEdits !== null);
  assert.equal(ex.responseEdits.drops('trellis-reason'), true);
  assert.equal(ex.responseEdits.shared, true);
  // A later stage adding a response field gets its own copy.
  ex.editResponse().addField('set-cookie', 'a=1');
  assert.equal(ex.responseEdits.drops('trellis-reason'), true);
  const again = run('inbound', { site: INBOUND, peer: null });
  assert.equal(again.ex.responseEdits!.add, null, 'the shared edits were not changed');
});

test('ingress: forwarding headers a client sent are replaced by what the ingress saw', () => {
  const { ex } = run('ingress', {
    site: INGRESS,
    clientAddress: '::ffff:203.0.113.7',
    headers: ['host', 'shop', 'x-forwarded-for', '10.0.0.1', 'forwarded', 'for=1.2.3.4', 'x-real-ip', '1.2.3.4', 'trellis-x', '1'],
  });
  const e = ex.requestEdits!;
  for (const n of ['x-forwarded-for', 'forwarded', 'x-real-ip', 'trellis-x', 'x-forwarded-proto']) assert.equal(e.drops(n), true, n);
  assert.deepEqual(pairs(e.set), [['x-forwarded-for', '203.0.113.7'], ['x-forwarded-proto', 'http']]);
});

test('ingress with a clean request still sets x-forwarded-for and -proto', () => {
  const { ex } = run('ingress', { site: INGRESS, clientAddress: '198.51.100.2' });
  assert.deepEqual(pairs(ex.requestEdits!.set), [['x-forwarded-for', '198.51.100.2'], ['x-forwarded-proto', 'http']]);
});
