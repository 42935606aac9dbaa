import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSize } from './size.js';

test('parseSize reads bytes, binary and decimal units', () => {
  assert.equal(parseSize(4096), 4096);
  assert.equal(parseSize('4096'), 4096);
  assert.equal(parseSize('64MiB'), 64 * 1024 * 1024);
  assert.equal(parseSize('1.5GB'), 1_500_000_000);
  assert.equal(parseSize('10KiB'), 10_240);
  assert.equal(parseSize(' 2KB '), 2000);
});

test('parseSize refuses what is not a size', () => {
  for (const bad of ['', 'MiB', '-1', '1 MiB', '1mib', '1e3', '1TB', 'ten']) assert.equal(parseSize(bad), undefined, bad);
  assert.equal(parseSize(-1), undefined);
  assert.equal(parseSize(1.5), undefined);
  assert.equal(parseSize(Number.MAX_VALUE), undefined);
});
