import { test } from 'node:test';
import assert from 'node:assert/strict';
import { grpcText, rowClass, statusClass, statusText, tapBadge } from '../../web/src/views/tap/tap-row.js';

test('rowClass: 5xx and no status stand out red, 4xx amber, the rest plain', () => {
  assert.equal(rowClass(200), '');
  assert.equal(rowClass(302), '');
  assert.equal(rowClass(404), 'row-warn');
  assert.equal(rowClass(499), 'row-warn');
  assert.equal(rowClass(500), 'row-bad');
  assert.equal(rowClass(503), 'row-bad');
  assert.equal(rowClass(0), 'row-bad');
});

test('rowClass: a gRPC call that failed in a 200 is red; grpc OK is plain', () => {
  assert.equal(rowClass(200, 14), 'row-bad');
  assert.equal(rowClass(200, 0), '');
});

test('grpcText: the gRPC status by name and code, nothing for plain HTTP', () => {
  assert.equal(grpcText(14), 'UNAVAILABLE (14)');
  assert.equal(grpcText(0), 'OK (0)');
  assert.equal(grpcText(undefined), '');
});

test('statusText and statusClass: the code and its class, "none" when no status was sent', () => {
  assert.equal(statusText(204), '204');
  assert.equal(statusText(0), 'none');
  assert.equal(statusClass(204), 'status-2xx');
  assert.equal(statusClass(503), 'status-5xx');
  assert.equal(statusClass(0), 'status-0xx');
});

test('tapBadge: live with a proxy count, errors red, everything else idle', () => {
  assert.deepEqual(tapBadge('live', 1), { text: 'live · 1 proxy', tone: 'ok' });
  assert.deepEqual(tapBadge('live', 3), { text: 'live · 3 proxies', tone: 'ok' });
  assert.deepEqual(tapBadge('live', 0), { text: 'live · 0 proxies', tone: 'ok' });
  assert.deepEqual(tapBadge('error', 2), { text: 'error', tone: 'bad' });
  assert.deepEqual(tapBadge('connecting', 0), { text: 'connecting', tone: 'idle' });
  assert.deepEqual(tapBadge('paused', 2), { text: 'paused', tone: 'idle' });
});
