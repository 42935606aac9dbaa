import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { HttpRouteRuleConfig } from '../../api/snapshot.js';
import { NO_BACKEND_STATUS, percentHit, pickBackend } from './backend.js';
import { compileRouteTable } from './compile.js';
import { http, seq, table } from './test-helpers.js';
import type { CompiledRule } from './types.js';

function ruleOf(backends: HttpRouteRuleConfig['backends'], knownClusters?: ReadonlySet<string>): CompiledRule {
  const r = compileRouteTable({ routes: [http('r', [{ backends }])] }, knownClusters === undefined ? {} : { knownClusters });
  assert.ok(r.ok, JSON.stringify(r.ok ? '' : r.errors));
  return r.table.rules[0] as CompiledRule;
}

function counts(rule: CompiledRule, random: () => number, n: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const b = pickBackend(rule, random);
    const k = b === null ? 'none' : b.cluster;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

const GRID = Array.from({ length: 100 }, (_, i) => i / 100);

test('weighted pick: exact counts over a uniform grid of random values', () => {
  const rule = ruleOf([{ cluster: 'a', weight: 1 }, { cluster: 'b', weight: 3 }]);
  assert.deepEqual(counts(rule, seq(GRID), 100), { a: 25, b: 75 });
  const three = ruleOf([{ cluster: 'a', weight: 2 }, { cluster: 'b', weight: 3 }, { cluster: 'c', weight: 5 }]);
  assert.deepEqual(counts(three, seq(GRID), 100), { a: 20, b: 30, c: 50 });
});

test('weighted pick: boundaries of the running sums', () => {
  const rule = ruleOf([{ cluster: 'a', weight: 1 }, { cluster: 'b', weight: 1 }]);
  assert.equal(pickBackend(rule, () => 0)?.cluster, 'a');
  assert.equal(pickBackend(rule, () => 0.4999)?.cluster, 'a');
  assert.equal(pickBackend(rule, () => 0.5)?.cluster, 'b');
  assert.equal(pickBackend(rule, () => 0.999999)?.cluster, 'b');
});

test('weight 0 excludes a backend; default weight is 1', () => {
  const rule = ruleOf([{ cluster: 'a' }, { cluster: 'zero', weight: 0 }, { cluster: 'b', weight: 1 }]);
  assert.deepEqual(counts(rule, seq(GRID), 100), { a: 50, b: 50 });
});

test('all weights 0: no backend, the caller answers 500', () => {
  const rule = ruleOf([{ cluster: 'a', weight: 0 }, { cluster: 'b', weight: 0 }]);
  assert.equal(pickBackend(rule, Math.random), null);
  assert.equal(NO_BACKEND_STATUS, 500);
});

test('a backend unknown to this proxy is picked in proportion but marked invalid (500)', () => {
  const rule = ruleOf([{ cluster: 'ok', weight: 1 }, { cluster: 'gone', weight: 1 }], new Set(['ok']));
  assert.equal(pickBackend(rule, () => 0)?.valid, true);
  assert.equal(pickBackend(rule, () => 0.9)?.valid, false);
});

test('property: the pick is always a backend with weight > 0', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 20 }), fc.double({ min: 0, max: 0.9999999, noNaN: true }), (weights, r) => {
      const rule = ruleOf(weights.map((weight, i) => ({ cluster: `c${i}`, weight })));
      const b = pickBackend(rule, () => r);
      if (weights.every((w) => w === 0)) assert.equal(b, null);
      else assert.ok(b !== null && b.weight > 0);
    }),
  );
});

test('percentHit: 0 never, 100 always, otherwise random*100 < percent', () => {
  assert.equal(percentHit(0, () => 0), false);
  assert.equal(percentHit(100, () => 0.9999), true);
  assert.equal(percentHit(25, () => 0.2499), true);
  assert.equal(percentHit(25, () => 0.25), false);
});

test('a rule with only a redirect compiles and has no backend', () => {
  const t = table([http('r', [{ backends: [], filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }] }])]);
  const m = t.route('GET', '/', []);
  assert.ok(m !== null && m.filters.redirect !== undefined);
  assert.equal(pickBackend(m.rule, Math.random), null);
});
