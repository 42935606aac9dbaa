import { test } from 'node:test';
import assert from 'node:assert/strict';
import { leastRequestBalancer } from './least-request.js';
import { newLoadRecord } from './peak-ewma.js';
import type { Balanced } from './types.js';

function ep(name: string, pending: number): Balanced & { name: string } {
  const load = newLoadRecord();
  load.pending = pending;
  return { name, key: name, load };
}

function seq(values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

test('least-request: of its two random candidates, the one with fewer pending requests wins', () => {
  const eps = [ep('a', 5), ep('b', 1), ep('c', 3)];
  // candidates a (0.0 -> 0) and b (0.4 of the two others -> 1): b has fewer pending
  assert.equal(leastRequestBalancer({ random: seq([0, 0.4]), now: () => 0 }).pick(eps)?.name, 'b');
  // candidates c (0.9 -> 2) and a (0.0 -> 0): c has fewer pending than a
  assert.equal(leastRequestBalancer({ random: seq([0.9, 0]), now: () => 0 }).pick(eps)?.name, 'c');
});

test('least-request: a tie keeps the first candidate; latency plays no part', () => {
  const a = ep('a', 2);
  const b = ep('b', 2);
  b.load.rtt.observe(1, 0);
  a.load.rtt.observe(1000, 0);
  assert.equal(leastRequestBalancer({ random: seq([0, 0]), now: () => 0 }).pick([a, b])?.name, 'a');
});

test('least-request: over many picks the idle endpoint gets the most requests', () => {
  const eps = [ep('busy', 10), ep('idle', 0), ep('mid', 4)];
  let r = 0.123;
  const random = (): number => (r = (r * 9301 + 0.49297) % 1); // deterministic spread over [0,1)
  const bal = leastRequestBalancer({ random, now: () => 0 });
  const counts = new Map<string, number>();
  for (let i = 0; i < 300; i++) {
    const name = bal.pick(eps)!.name;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  assert.equal(counts.get('busy') ?? 0, 0, 'the busiest endpoint never wins a pair');
  assert.ok((counts.get('idle') ?? 0) > (counts.get('mid') ?? 0));
});

test('least-request: excluded endpoints are never picked', () => {
  const eps = [ep('a', 0), ep('b', 9)];
  const bal = leastRequestBalancer({ random: seq([0, 0.5]), now: () => 0 });
  assert.equal(bal.pick(eps, new Set([eps[0]!]))?.name, 'b');
  assert.equal(bal.pick(eps, new Set(eps)), undefined);
});
