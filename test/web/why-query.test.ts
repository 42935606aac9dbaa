import { test } from 'node:test';
import assert from 'node:assert/strict';
import { whyQuery } from '../../web/src/views/why/why-query.js';

test('whyQuery: source, target, method, path and one header per line (name: value or name=value), blank lines skipped', () => {
  const q = whyQuery({ source: 'default/web', target: 'default/api', method: 'POST', path: '/a?b=1', headers: 'x-env: prod\n\nx-team=blue\n' });
  assert.ok(q.ok);
  const p = new URLSearchParams(q.query);
  assert.deepEqual([p.get('source'), p.get('target'), p.get('method'), p.get('path')], ['default/web', 'default/api', 'POST', '/a?b=1']);
  assert.deepEqual(p.getAll('header'), ['x-env:prod', 'x-team:blue']);
});

test('whyQuery: a line that is not a header is refused with a message; empty method and path are left out', () => {
  const bad = whyQuery({ source: 'web', target: 'default/api', method: '', path: '', headers: 'oops' });
  assert.equal(bad.ok, false);
  const ok = whyQuery({ source: 'web', target: 'default/api', method: ' ', path: '', headers: '' });
  assert.ok(ok.ok);
  assert.equal(new URLSearchParams(ok.query).has('method'), false);
});
