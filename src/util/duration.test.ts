import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseDuration } from './duration.js';
import { formatHostPort, parseHostPort } from './hostport.js';
import { Backoff } from './backoff.js';

describe('durations', () => {
  it('parses units and sums parts', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('10s'), 10_000);
    assert.equal(parseDuration('24h'), 86_400_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('2d'), 172_800_000);
  });
  it('rejects what is not a duration', () => {
    for (const bad of ['', '10', 's', '10 s', '1.5s', '-1s', '10sec', 'h1']) assert.equal(parseDuration(bad), undefined, bad);
  });
  it('formats back exactly', () => {
    for (const ms of [0, 1, 500, 10_000, 5_400_000, 86_400_000, 90_061_001]) assert.equal(parseDuration(formatDuration(ms)), ms);
    assert.equal(formatDuration(90_000), '1m30s');
  });
});

describe('host:port', () => {
  it('parses IPv4, names and bracketed IPv6', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseHostPort('localhost:0'), { host: 'localhost', port: 0 });
    assert.deepEqual(parseHostPort('[::1]:15000'), { host: '::1', port: 15000 });
    assert.equal(formatHostPort({ host: '::1', port: 1 }), '[::1]:1');
  });
  it('rejects the rest', () => {
    for (const bad of ['127.0.0.1', ':80', '127.0.0.1:65536', 'a b:1', '::1:80', 'host:-1']) assert.equal(parseHostPort(bad), undefined, bad);
  });
});

describe('backoff', () => {
  it('doubles from the initial delay up to the cap, and resets', () => {
    const b = new Backoff({ initialMs: 1000, maxMs: 30_000 });
    assert.deepEqual(Array.from({ length: 8 }, () => b.next()), [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
    b.reset();
    assert.equal(b.next(), 1000);
  });
});
