import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { OutgoingHttpHeaders } from 'node:http2';
import { appendFields, flatRequestHeaders, modifyHead, rewriteHead, shadowAuthority } from './head-edits.js';

test('planner headers: no pseudo-headers, host from :authority, repeated fields flattened', () => {
  const flat = flatRequestHeaders({ ':method': 'GET', ':path': '/x', ':authority': 'svc:80', 'x-a': '1', 'set-cookie': ['a', 'b'] });
  assert.deepEqual(flat, ['x-a', '1', 'set-cookie', 'a', 'set-cookie', 'b', 'host', 'svc:80']);
});

test('header modifier: remove, set (host means :authority), add appends', () => {
  const head: OutgoingHttpHeaders = { ':path': '/', ':authority': 'a', 'x-keep': '1', 'x-gone': '2', 'x-set': 'old', 'x-add': 'first' };
  modifyHead(head, {
    remove: new Set(['x-gone', ':path']),
    set: [
      ['x-set', 'new'],
      ['host', 'b'],
    ],
    add: [
      ['x-add', 'second'],
      ['x-new', 'v'],
    ],
  });
  assert.deepEqual(head, { ':path': '/', ':authority': 'b', 'x-keep': '1', 'x-set': 'new', 'x-add': ['first', 'second'], 'x-new': 'v' });
  appendFields(head, ['x-add', 'third', 'set-cookie', 's=1']);
  assert.deepEqual(head['x-add'], ['first', 'second', 'third']);
  assert.equal((head as OutgoingHttpHeaders)['set-cookie'], 's=1');
});

test('URL rewrite: prefix replaced with the query kept, full path, hostname', () => {
  const head: OutgoingHttpHeaders = { ':path': '/api/users?id=1', ':authority': 'old' };
  rewriteHead(head, { path: { type: 'ReplacePrefixMatch', value: '/v2' }, hostname: 'new.example' }, '/api');
  assert.deepEqual(head, { ':path': '/v2/users?id=1', ':authority': 'new.example' });
  rewriteHead(head, { path: { type: 'ReplaceFullPath', value: '/fixed' }, hostname: undefined }, undefined);
  assert.deepEqual(head, { ':path': '/fixed?id=1', ':authority': 'new.example' });
});

test('shadow authority keeps the port valid', () => {
  assert.equal(shadowAuthority('svc'), 'svc-shadow');
  assert.equal(shadowAuthority('svc:8080'), 'svc-shadow:8080');
  assert.equal(shadowAuthority('[::1]:80'), '[::1]-shadow:80');
  assert.equal(shadowAuthority('[::1]'), '[::1]-shadow');
});
