import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GoldenMetrics } from '../../src/api/stats.js';
import {
  formatBytes,
  formatClock,
  formatMs,
  formatPercent,
  formatRelativeSeconds,
  formatRps,
  formatSeconds,
  health,
  metricsHealth,
  shortName,
} from '../../web/src/lib/format.js';

const metrics = (requests: number, successRate: number | null): GoldenMetrics => ({ requests, rps: requests / 30, successRate, p50: null, p95: null, p99: null });

test('health: amber below 99 %, red below 95 %, idle without a rate', () => {
  assert.equal(health(null), 'idle');
  assert.equal(health(undefined), 'idle');
  assert.equal(health(1), 'ok');
  assert.equal(health(0.99), 'ok');
  assert.equal(health(0.989), 'warn');
  assert.equal(health(0.95), 'warn');
  assert.equal(health(0.949), 'bad');
  assert.equal(health(0), 'bad');
});

test('metricsHealth: no metrics or no requests is idle whatever the rate says', () => {
  assert.equal(metricsHealth(undefined), 'idle');
  assert.equal(metricsHealth(metrics(0, 0)), 'idle');
  assert.equal(metricsHealth(metrics(10, null)), 'idle');
  assert.equal(metricsHealth(metrics(10, 0.5)), 'bad');
  assert.equal(metricsHealth(metrics(10, 0.97)), 'warn');
  assert.equal(metricsHealth(metrics(10, 1)), 'ok');
});

test('formatPercent: two decimals near 100 %, one below, a dash without a rate', () => {
  assert.equal(formatPercent(null), '–');
  assert.equal(formatPercent(undefined), '–');
  assert.equal(formatPercent(1), '100%');
  assert.equal(formatPercent(0.9995), '99.95%');
  assert.equal(formatPercent(0.995), '99.50%');
  assert.equal(formatPercent(0.5), '50.0%');
  assert.equal(formatPercent(0.123), '12.3%');
  assert.equal(formatPercent(0), '0.0%');
  assert.equal(formatPercent(0.99999), '99.99%', 'never rounded up to 100');
  assert.equal(formatPercent(0.98999), '98.9%');
});

test('formatRps: precision shrinks as the rate grows, thousands as k', () => {
  assert.equal(formatRps(null), '–');
  assert.equal(formatRps(0), '0 rps');
  assert.equal(formatRps(0.05), '0.050 rps');
  assert.equal(formatRps(1.234), '1.23 rps');
  assert.equal(formatRps(12.34), '12.3 rps');
  assert.equal(formatRps(999), '999.0 rps');
  assert.equal(formatRps(1500), '1.5k rps');
});

test('formatMs: µs below a millisecond, seconds from 1000 ms', () => {
  assert.equal(formatMs(null), '–');
  assert.equal(formatMs(0), '0 ms');
  assert.equal(formatMs(0.25), '250 µs');
  assert.equal(formatMs(2.5), '2.50 ms');
  assert.equal(formatMs(25), '25.0 ms');
  assert.equal(formatMs(2500), '2.50 s');
});

test('formatSeconds: seconds shown as formatMs shows them in ms', () => {
  assert.equal(formatSeconds(null), '–');
  assert.equal(formatSeconds(undefined), '–');
  assert.equal(formatSeconds(0.0025), '2.50 ms');
  assert.equal(formatSeconds(0.25), '250.0 ms');
  assert.equal(formatSeconds(3), '3.00 s');
});

test('formatBytes: B, KiB, MiB by powers of 1024', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1024), '1.0 KiB');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(1024 * 1024), '1.0 MiB');
  assert.equal(formatBytes(5.5 * 1024 * 1024), '5.5 MiB');
});

test('formatRelativeSeconds: future as "in …", past as "expired … ago", two units at most', () => {
  assert.equal(formatRelativeSeconds(0), 'in 0 s');
  assert.equal(formatRelativeSeconds(30), 'in 30 s');
  assert.equal(formatRelativeSeconds(-90), 'expired 1 min ago');
  assert.equal(formatRelativeSeconds(23 * 3600 + 5 * 60 + 59), 'in 23 h 5 min');
  assert.equal(formatRelativeSeconds(-(2 * 86400 + 3 * 3600 + 120)), 'expired 2 d 3 h ago');
});

test('formatClock: local wall time to the millisecond, zero-padded', () => {
  // Built from local fields so the expectation holds in any time zone.
  assert.equal(formatClock(new Date(2024, 0, 2, 3, 4, 5, 6).getTime()), '03:04:05.006');
  assert.equal(formatClock(new Date(2024, 11, 31, 23, 59, 58, 987).getTime()), '23:59:58.987');
});

test('shortName: drops the namespace, keeps ids without one', () => {
  assert.equal(shortName('default/catalog'), 'catalog');
  assert.equal(shortName('external'), 'external');
  assert.equal(shortName('a/b/c'), 'b/c');
});
