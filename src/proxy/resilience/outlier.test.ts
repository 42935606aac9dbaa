import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_EJECTION_MS } from '../../api/snapshot.js';
import type { OutlierDetectionConfig } from '../../api/snapshot.js';
import { OutlierDetector, OutlierState, isGrpcFailure } from './outlier.js';
import type { OutlierSubject } from './outlier.js';

const CONFIG: OutlierDetectionConfig = {
  consecutive5xx: 3,
  consecutiveConnectFailures: 2,
  intervalMs: 1_000,
  baseEjectionMs: 500,
  maxEjectionPercent: 50,
};

function setup(n: number, config: Partial<OutlierDetectionConfig> = {}): { eps: OutlierSubject[]; det: OutlierDetector; at(ms: number): void } {
  let now = 0;
  const eps = Array.from({ length: n }, () => ({ outlier: new OutlierState() }));
  return { eps, det: new OutlierDetector({ ...CONFIG, ...config }, () => now), at: (ms) => (now = ms) };
}

function fail5xx(det: OutlierDetector, ep: OutlierSubject, all: OutlierSubject[], times: number): number {
  let until = 0;
  for (let i = 0; i < times; i++) until = det.onResponse(ep, true, all) || until;
  return until;
}

test('outlier: consecutive 5xx eject at the threshold; a success in between resets the count', () => {
  const { eps, det, at } = setup(4);
  const [a] = eps as [OutlierSubject];
  at(100);
  assert.equal(det.onResponse(a, true, eps), 0);
  assert.equal(det.onResponse(a, true, eps), 0);
  assert.equal(det.onResponse(a, false, eps), 0, 'success resets');
  assert.equal(fail5xx(det, a, eps, 2), 0);
  assert.equal(det.onResponse(a, true, eps), 600, 'third in a row ejects for baseEjectionMs');
  assert.equal(a.outlier.ejectedUntil, 600);
});

test('outlier: consecutive connect failures eject; connect successes reset', () => {
  const { eps, det, at } = setup(4);
  const b = eps[1]!;
  at(0);
  assert.equal(det.onConnect(b, false, eps), 0);
  assert.equal(det.onConnect(b, true, eps), 0);
  assert.equal(det.onConnect(b, false, eps), 0);
  assert.equal(det.onConnect(b, false, eps), 500);
});

test('outlier: a threshold of 0 turns that kind off', () => {
  const { eps, det } = setup(4, { consecutive5xx: 0 });
  assert.equal(fail5xx(det, eps[0]!, eps, 20), 0);
});

test('outlier: the n-th ejection in a row lasts n x base, capped at MAX_EJECTION_MS; it returns by itself', () => {
  const { eps, det, at } = setup(4, { baseEjectionMs: 100_000, intervalMs: 1_000_000 });
  const a = eps[0]!;
  at(0);
  assert.equal(fail5xx(det, a, eps, 3), 100_000);
  at(100_000); // returned (ejectedUntil is not after now)
  assert.ok(a.outlier.ejectedUntil <= 100_000);
  assert.equal(fail5xx(det, a, eps, 3), 100_000 + 200_000);
  at(300_000);
  assert.equal(fail5xx(det, a, eps, 3), 300_000 + MAX_EJECTION_MS, '3 x 100 s capped at 300 s');
});

test('outlier: the ejection count decays by one per interval spent un-ejected', () => {
  const { eps, det, at } = setup(4); // base 500, interval 1000
  const a = eps[0]!;
  at(0);
  assert.equal(fail5xx(det, a, eps, 3), 500); // 1st
  at(500);
  assert.equal(fail5xx(det, a, eps, 3), 500 + 1_000); // 2nd in a row: 2 x base
  at(1_500 + 1_000); // one interval un-ejected: count 2 -> 1
  assert.equal(a.outlier.times(2_500, 1_000), 1);
  assert.equal(fail5xx(det, a, eps, 3), 2_500 + 1_000, 'count was 1, so this is the 2nd: 2 x base');
  at(3_500 + 5_000); // long healthy: count back to 0
  assert.equal(fail5xx(det, a, eps, 3), 8_500 + 500);
});

test('outlier: never more than floor(n x maxEjectionPercent / 100) ejected at once', () => {
  const { eps, det, at } = setup(5, { maxEjectionPercent: 40 }); // at most 2 of 5
  at(0);
  assert.ok(fail5xx(det, eps[0]!, eps, 3) > 0);
  assert.ok(fail5xx(det, eps[1]!, eps, 3) > 0);
  assert.equal(fail5xx(det, eps[2]!, eps, 3), 0, 'third would exceed 40 %');
  assert.equal(eps[2]!.outlier.ejectedUntil, 0);
  at(600); // the first two returned: room again, and the count stayed at the threshold
  assert.ok(det.onResponse(eps[2]!, true, eps) > 0);
});

test('outlier: a single endpoint is never ejected', () => {
  const { eps, det } = setup(1, { maxEjectionPercent: 99 });
  assert.equal(fail5xx(det, eps[0]!, eps, 10), 0);
});

test('grpc codes counted as failures are the ones Envoy maps to 5xx', () => {
  assert.deepEqual(
    Array.from({ length: 17 }, (_, i) => i).filter(isGrpcFailure),
    [2, 4, 13, 14, 15],
  );
});
