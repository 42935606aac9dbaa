import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpError } from '../api/http-error.js';
import { seriesParams, windowParam } from './stats-params.js';

/** Asserts a 400 TRELLIS_E_USAGE whose message matches `message`. */
function assertUsage(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof HttpError);
    assert.equal(err.status, 400);
    assert.equal(err.code, 'TRELLIS_E_USAGE');
    assert.match(err.message, message);
    return true;
  });
}

const q = (s: string): URLSearchParams => new URLSearchParams(s);

describe('windowParam', () => {
  it('takes 1s..15m, defaults when absent, refuses the rest naming window', () => {
    assert.equal(windowParam(null, 30_000), 30_000);
    assert.equal(windowParam('1m30s', 30_000), 90_000);
    assert.equal(windowParam('15m', 30_000), 900_000);
    for (const bad of ['', '0s', '999ms', '16m', '30', 'abc']) assertUsage(() => windowParam(bad, 30_000), /^window must be a duration from 1s to 15m/);
  });
});

describe('seriesParams', () => {
  it('defaults: window 5m, step the interval; a finer step is raised to the interval', () => {
    assert.deepEqual(seriesParams(q('kind=service&namespace=default&name=b'), 2000), { kind: 'service', namespace: 'default', name: 'b', windowMs: 300_000, stepMs: 2000 });
    assert.equal(seriesParams(q('kind=service&namespace=default&name=b&step=500ms'), 2000).stepMs, 2000);
    assert.equal(seriesParams(q('kind=service&namespace=default&name=b&step=10s&window=1m'), 2000).stepMs, 10_000);
  });

  it('a route is named <ns>/<name>; namespace may be left out, or given with a bare name', () => {
    assert.deepEqual(seriesParams(q('kind=route&name=shop/web'), 2000), { kind: 'route', namespace: 'shop', name: 'shop/web', windowMs: 300_000, stepMs: 2000 });
    assert.equal(seriesParams(q('kind=route&namespace=shop&name=web'), 2000).name, 'shop/web');
  });

  it('bad input is a 400 naming the parameter', () => {
    assertUsage(() => seriesParams(q('namespace=default&name=b'), 2000), /^kind is required/);
    assertUsage(() => seriesParams(q('kind=pod&namespace=default&name=b'), 2000), /^kind must be service or route, got "pod"/);
    assertUsage(() => seriesParams(q('kind=service&namespace=default'), 2000), /^name is required/);
    assertUsage(() => seriesParams(q('kind=service&name=b'), 2000), /^namespace is required/);
    assertUsage(() => seriesParams(q('kind=route&name=web'), 2000), /^namespace is required/);
    assertUsage(() => seriesParams(q('kind=route&namespace=a&name=b/web'), 2000), /^namespace "a" does not match the route "b\/web"/);
    assertUsage(() => seriesParams(q('kind=service&namespace=default&name=a/b'), 2000), /^name must be a service name/);
    assertUsage(() => seriesParams(q('kind=service&namespace=default&name=b&window=1h'), 2000), /^window must be/);
    assertUsage(() => seriesParams(q('kind=service&namespace=default&name=b&step=soon'), 2000), /^step must be a duration/);
    assertUsage(() => seriesParams(q('kind=service&namespace=default&name=b&window=1m&step=2m'), 2000), /^step must be a duration no longer than the window/);
  });
});
