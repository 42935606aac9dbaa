import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { OutgoingHttpHeaders } from 'node:http2';
import { HeadEdits } from '../pipeline/head-edits.js';
import type { Exchange } from '../pipeline/exchange.js';
import type { Service } from '../pipeline/service.js';
import { RouteStage } from '../stages/route/route.js';
import { testExchange } from '../testing/pool-harness.js';
import { SVC, TestRoutes, rule } from './test-helpers.js';
import { applyEdits, flatRequestHeaders } from './head-edits.js';

test('stage headers: no pseudo-headers, host from :authority, repeated fields flattened', () => {
  const flat = flatRequestHeaders({ ':method': 'GET', ':path': '/x', ':authority': 'svc:80', 'x-a': '1', 'set-cookie': ['a', 'b'] });
  assert.deepEqual(flat, ['x-a', '1', 'set-cookie', 'a', 'set-cookie', 'b', 'host', 'svc:80']);
});

test('header modifier: remove, set (host means :authority), add appends; pseudo-headers are never removed', () => {
  const head: OutgoingHttpHeaders = { ':path': '/', ':authority': 'a', 'x-keep': '1', 'x-gone': '2', 'x-set': 'old', 'x-add': 'first' };
  const edits = new HeadEdits();
  edits.applyModifier(
    {
      remove: new Set(['x-gone', ':path']),
      set: [
        ['x-set', 'new'],
        ['host', 'b'],
      ],
      add: [
        ['x-add', 'second'],
        ['x-new', 'v'],
      ],
    },
    true,
  );
  applyEdits(head, edits, true);
  assert.deepEqual(head, { ':path': '/', ':authority': 'b', 'x-keep': '1', 'x-set': 'new', 'x-add': ['first', 'second'], 'x-new': 'v' });
  const more = new HeadEdits();
  more.addFields(['x-add', 'third', 'set-cookie', 's=1']);
  applyEdits(head, more, false);
  assert.deepEqual(head['x-add'], ['first', 'second', 'third']);
  assert.equal((head as OutgoingHttpHeaders)['set-cookie'], 's=1');
});

test('response edits never touch pseudo-headers or the authority', () => {
  const head: OutgoingHttpHeaders = { ':status': 200, 'x-a': '1' };
  const edits = new HeadEdits();
  edits.target = '/elsewhere';
  edits.authority = 'other';
  edits.setField(':status', '500');
  edits.addField('host', 'h');
  applyEdits(head, edits, false);
  assert.deepEqual(head, { ':status': 200, 'x-a': '1' });
});

/** Runs the route stage on `target` with `rules` and applies its request edits to an HTTP/2 head. */
function routedHead(rules: Parameters<TestRoutes['set']>[0], target: string, authority: string): OutgoingHttpHeaders {
  const routes = new TestRoutes(rules);
  let routed: Exchange | undefined;
  const next: Service = { call: (ex) => (routed = ex) };
  const stage = new RouteStage({ clusters: routes.table, parent: SVC, random: () => 0 }, next);
  const ex = testExchange({ protocol: 'http2', target, headers: ['host', authority], cluster: SVC });
  stage.call(ex, { onInterim() {}, onHead() {}, onData() {}, onEnd() {}, onLocal: (_e, r) => assert.fail(`answered locally: ${r.reason}`) });
  assert.ok(routed !== undefined, 'the route stage passed the exchange on');
  const head: OutgoingHttpHeaders = { ':method': 'GET', ':path': target, ':authority': authority };
  if (routed.requestEdits !== null) applyEdits(head, routed.requestEdits, true);
  return head;
}

test('URL rewrite: prefix replaced with the query kept, full path, hostname', () => {
  const prefix = routedHead(
    [rule({ matches: [{ path: { type: 'PathPrefix', value: '/api' } }], filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' }, hostname: 'new.example' } }] })],
    '/api/users?id=1',
    'old',
  );
  assert.deepEqual(prefix, { ':method': 'GET', ':path': '/v2/users?id=1', ':authority': 'new.example' });
  const full = routedHead([rule({ filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath', replaceFullPath: '/fixed' } } }] })], '/v2/users?id=1', 'new.example');
  assert.deepEqual(full, { ':method': 'GET', ':path': '/fixed?id=1', ':authority': 'new.example' });
});
