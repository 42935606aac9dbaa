import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_VIEW, href, parseHash } from '../../web/src/lib/route.js';

test('parseHash: an empty hash is the graph view', () => {
  for (const hash of ['', '#', '#/', '#//']) {
    const r = parseHash(hash);
    assert.equal(r.view, DEFAULT_VIEW, hash);
    assert.deepEqual(r.args, [], hash);
    assert.equal([...r.query].length, 0, hash);
  }
  assert.equal(DEFAULT_VIEW, 'graph');
});

test('parseHash: view, decoded path segments, and the query', () => {
  const r = parseHash('#/services/default/catalog');
  assert.equal(r.view, 'services');
  assert.deepEqual(r.args, ['default', 'catalog']);

  const t = parseHash('#/tap?workload=default%2Fweb&method=GET');
  assert.equal(t.view, 'tap');
  assert.deepEqual(t.args, []);
  assert.equal(t.query.get('workload'), 'default/web');
  assert.equal(t.query.get('method'), 'GET');

  assert.deepEqual(parseHash('#/traces/ab%2Fcd%20e').args, ['ab/cd e']);
  assert.equal(parseHash('#workloads').view, 'workloads');
  assert.deepEqual(parseHash('#/routes//default//r1/').args, ['default', 'r1']);
});

test('parseHash: a segment that is not valid percent-encoding is kept as typed', () => {
  assert.deepEqual(parseHash('#/traces/100%').args, ['100%']);
  assert.deepEqual(parseHash('#/traces/%E0%A4%A/x').args, ['%E0%A4%A', 'x']);
});

test('href: builds hashes the views link to', () => {
  assert.equal(href('graph'), '#/graph');
  assert.equal(href('services', ['default', 'catalog']), '#/services/default/catalog');
  assert.equal(href('tap', [], { workload: 'default/web' }), '#/tap?workload=default%2Fweb');
  assert.equal(href('tap', [], {}), '#/tap');
  assert.equal(href('traces', ['a/b']), '#/traces/a%2Fb');
});

test('href and parseHash round-trip args and query, whatever characters they hold', () => {
  const args = ['default', 'a/b', 'sp ace', 'q?x', 'h#y', '100%', 'ü'];
  const query = { workload: 'default/web', path: '/api?x=1&y=2', status: '5xx' };
  const r = parseHash(href('routes', args, query));
  assert.equal(r.view, 'routes');
  assert.deepEqual(r.args, args);
  assert.deepEqual(Object.fromEntries(r.query), query);
});
