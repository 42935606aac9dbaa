import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatGrpcTimeout, parseGrpcTimeout } from './grpc-timeout.js';

test('parses every unit of the gRPC spec into milliseconds', () => {
  const table: [string, number][] = [
    ['1H', 3_600_000],
    ['2M', 120_000],
    ['3S', 3000],
    ['200m', 200],
    ['1500u', 1.5],
    ['2000000n', 2],
    ['0m', 0],
    ['99999999m', 99_999_999],
    ['00000010S', 10_000],
  ];
  for (const [value, ms] of table) assert.equal(parseGrpcTimeout(value), ms, value);
});

test('malformed values are ignored (undefined)', () => {
  for (const value of ['', 'm', '10', '10x', '10 m', '-1m', '1.5S', '123456789m', 'abcm', '10mm', '1h', '1s']) {
    assert.equal(parseGrpcTimeout(value), undefined, JSON.stringify(value));
  }
});

test('formats remaining time rounded down, in the finest unit that fits 8 digits', () => {
  const table: [number, string][] = [
    [200, '200m'],
    [199.9, '199m'],
    [1, '1m'],
    [0.5, '500u'],
    [0.0004, '400n'],
    [99_999_999, '99999999m'],
    [100_000_000, '100000S'],
    [1e11 * 1.5, '2500000M'],
    [1e14, '27777777H'],
    [1e20, '99999999H'],
  ];
  for (const [ms, value] of table) assert.equal(formatGrpcTimeout(ms), value, String(ms));
});

test('an exhausted deadline still formats as a positive timeout', () => {
  assert.equal(formatGrpcTimeout(0), '1n');
  assert.equal(formatGrpcTimeout(-5), '1n');
  assert.equal(formatGrpcTimeout(Number.NaN), '1n');
});

test('format then parse never gives more time than there was', () => {
  for (const ms of [0.000001, 0.0123, 0.9, 1.7, 37.25, 4_321.9, 86_400_000.5, 5e9]) {
    const back = parseGrpcTimeout(formatGrpcTimeout(ms));
    assert.ok(back !== undefined && back <= ms, `${ms} -> ${formatGrpcTimeout(ms)}`);
  }
});
