import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTapQuery, TapMatcher, tapQueryParams } from './tap-filter.js';

const parse = (qs: string, extra?: string[]) => parseTapQuery(new URLSearchParams(qs), extra);

describe('parseTapQuery', () => {
  it('accepts every parameter and normalises the method', () => {
    assert.deepEqual(parse('direction=outbound&method=post&path=/api&status=5xx&max=10'), {
      ok: true,
      query: { direction: 'outbound', method: 'POST', path: '/api', status: '5xx', max: 10 },
    });
    assert.deepEqual(parse(''), { ok: true, query: {} });
    assert.deepEqual(parse('status=0&max=100000'), { ok: true, query: { status: '0', max: 100000 } });
  });

  it('names the bad parameter', () => {
    const cases: [string, string][] = [
      ['status=5x', 'status'],
      ['status=600', 'status'],
      ['status=6xx', 'status'],
      ['status=', 'status'],
      ['max=0', 'max'],
      ['max=100001', 'max'],
      ['max=1.5', 'max'],
      ['max=ten', 'max'],
      ['direction=sideways', 'direction'],
      ['method=GE%20T', 'method'],
      ['path=', 'path'],
      ['mehtod=GET', 'mehtod'],
      ['status=failing', 'status'],
      ['grpcStatus=17', 'grpcStatus'],
      ['grpcStatus=-1', 'grpcStatus'],
      ['grpcStatus=unavailible', 'grpcStatus'],
      ['grpcStatus=', 'grpcStatus'],
    ];
    for (const [qs, param] of cases) {
      const r = parse(qs);
      assert.equal(r.ok, false, qs);
      if (!r.ok) {
        assert.equal(r.param, param, qs);
        assert.ok(r.message.startsWith(`${param}: `), r.message);
      }
    }
  });

  it('lets the caller allow its own parameters', () => {
    assert.equal(parse('workload=b').ok, false);
    assert.deepEqual(parse('workload=b&max=2', ['workload']), { ok: true, query: { max: 2 } });
  });

  it('round-trips through URL parameters', () => {
    const q = { direction: 'inbound' as const, method: 'GET', path: '/a b', status: '503', grpcStatus: 14, max: 7 };
    assert.deepEqual(parse(tapQueryParams(q).toString()), { ok: true, query: q });
  });

  it('reads status=failed, and a gRPC status as a code or a name in any case', () => {
    assert.deepEqual(parse('status=failed'), { ok: true, query: { status: 'failed' } });
    for (const g of ['14', 'UNAVAILABLE', 'unavailable', 'Unavailable']) assert.deepEqual(parse(`grpcStatus=${g}`), { ok: true, query: { grpcStatus: 14 } }, g);
    assert.deepEqual(parse('grpcStatus=deadline-exceeded'), { ok: true, query: { grpcStatus: 4 } });
    assert.deepEqual(parse('grpcStatus=0'), { ok: true, query: { grpcStatus: 0 } });
  });
});

describe('TapMatcher', () => {
  it('matches everything when empty', () => {
    assert.equal(new TapMatcher({}).matches('inbound', 'GET', '/', 200), true);
  });

  it('filters by direction, method (any case), exact status and class', () => {
    assert.equal(new TapMatcher({ direction: 'inbound' }).matches('outbound', 'GET', '/', 200), false);
    assert.equal(new TapMatcher({ method: 'POST' }).matches('inbound', 'post', '/', 200), true);
    assert.equal(new TapMatcher({ method: 'POST' }).matches('inbound', 'GET', '/', 200), false);
    assert.equal(new TapMatcher({ status: '503' }).matches('inbound', 'GET', '/', 503), true);
    assert.equal(new TapMatcher({ status: '503' }).matches('inbound', 'GET', '/', 500), false);
    assert.equal(new TapMatcher({ status: '5xx' }).matches('inbound', 'GET', '/', 504), true);
    assert.equal(new TapMatcher({ status: '5xx' }).matches('inbound', 'GET', '/', 404), false);
    assert.equal(new TapMatcher({ status: '0' }).matches('inbound', 'GET', '/', 0), true);
    assert.equal(new TapMatcher({ status: '0' }).matches('inbound', 'GET', '/', 200), false);
  });

  it('status=failed: no response, a 5xx, or a gRPC status other than OK (in a 200)', () => {
    const failed = new TapMatcher({ status: 'failed' });
    assert.equal(failed.matches('inbound', 'POST', '/svc/M', 200, 14), true, 'gRPC UNAVAILABLE in a 200');
    assert.equal(failed.matches('inbound', 'POST', '/svc/M', 200, 0), false, 'gRPC OK');
    assert.equal(failed.matches('inbound', 'GET', '/', 503), true);
    assert.equal(failed.matches('inbound', 'GET', '/', 0), true);
    assert.equal(failed.matches('inbound', 'GET', '/', 404), false);
    assert.equal(failed.matches('inbound', 'GET', '/', 200), false);
  });

  it('grpcStatus matches only gRPC calls with that code', () => {
    const unavailable = new TapMatcher({ grpcStatus: 14 });
    assert.equal(unavailable.matches('inbound', 'POST', '/svc/M', 200, 14), true);
    assert.equal(unavailable.matches('inbound', 'POST', '/svc/M', 200, 4), false);
    assert.equal(unavailable.matches('inbound', 'GET', '/', 503), false, 'not gRPC');
    assert.equal(new TapMatcher({ grpcStatus: 0 }).matches('inbound', 'POST', '/svc/M', 200, 0), true);
    assert.equal(new TapMatcher({ grpcStatus: 0 }).matches('inbound', 'GET', '/', 200), false, 'no grpc-status is not OK');
    assert.equal(new TapMatcher({ grpcStatus: 14, status: '5xx' }).matches('inbound', 'POST', '/svc/M', 200, 14), false, 'filters combine');
  });

  it('compares the path prefix with the target without its query', () => {
    const m = new TapMatcher({ path: '/x' });
    assert.equal(m.matches('inbound', 'GET', '/x', 200), true);
    assert.equal(m.matches('inbound', 'GET', '/x/y?z=1', 200), true);
    assert.equal(m.matches('inbound', 'GET', '/y?p=/x', 200), false);
    assert.equal(new TapMatcher({ path: '/a?b' }).matches('inbound', 'GET', '/a?b=1', 200), false);
  });
});
