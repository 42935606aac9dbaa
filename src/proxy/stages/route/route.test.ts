import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RouteConfig } from '../../../api/snapshot.js';
import { ManualClock } from '../../clock/manual-clock.js';
import type { ExchangeInit } from '../../pipeline/exchange.js';
import {
  OUTBOUND, RecordingHandler, RecordingService, clusterConfig, clusterTable, exchange, httpRoute, pairs, randoms, withRoutes,
} from '../../testing/stage-harness.js';
import { RouteStage } from './route.js';

const PARENT = OUTBOUND.cluster;
const A = 'default/a:http';
const B = 'default/b:http';

/** A route stage for PARENT with `routes` (none: the parent has no route table). */
type Routed = { h: RecordingHandler; ex: ReturnType<typeof exchange> };
type Prepare = (ex: ReturnType<typeof exchange>) => void;

function stage(routes: RouteConfig[] | undefined, random = randoms(0)): { next: RecordingService; route: (over?: Partial<ExchangeInit>, path?: string, prepare?: Prepare) => Routed } {
  const parent = routes === undefined ? clusterConfig(PARENT) : withRoutes(clusterConfig(PARENT), routes);
  const clusters = clusterTable([parent, clusterConfig(A), clusterConfig(B)], new ManualClock());
  const next = new RecordingService();
  const s = new RouteStage({ clusters, parent: PARENT, random }, next);
  return {
    next,
    route(over = {}, path = '/', prepare?: Prepare): Routed {
      const ex = exchange(over);
      // The normalize stage's work (the route stage reads the normalized path and query).
      const q = path.indexOf('?');
      ex.path = q < 0 ? path : path.slice(0, q);
      ex.query = q < 0 ? '' : path.slice(q + 1);
      prepare?.(ex);
      const h = new RecordingHandler();
      s.call(ex, h);
      return { h, ex };
    },
  };
}

test('no routes: every request goes to the parent cluster, unedited', () => {
  const s = stage(undefined);
  const { ex, h } = s.route();
  assert.equal(s.next.calls.length, 1);
  assert.equal(ex.backend, PARENT);
  assert.equal(ex.rule, null);
  assert.equal(ex.requestEdits, null);
  assert.equal(h.events.length, 0);
});

test('no route matches: 404 no-route, next never called', () => {
  const s = stage([httpRoute('r', [{ matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backends: [{ cluster: A }] }])]);
  const { h } = s.route({}, '/other');
  assert.equal(s.next.calls.length, 0);
  assert.equal(h.local.status, 404);
  assert.equal(h.local.reason, 'no-route');
});

test('routes match the normalized path (ex.path), not the target as received', () => {
  const s = stage([httpRoute('r', [{ matches: [{ path: { type: 'Exact', value: '/api/x' } }], backends: [{ cluster: A }] }])]);
  const { ex } = s.route({ target: '/api/./y/../x' }, '/api/x');
  assert.equal(s.next.calls.length, 1);
  assert.equal(ex.backend, A);
  assert.equal(ex.route, 'default/r');
});

test('a redirect is answered locally with its location; next never called', () => {
  const s = stage([
    httpRoute('r', [{ filters: [{ type: 'RequestRedirect', requestRedirect: { hostname: 'new.example', statusCode: 301 } }], backends: [] }]),
  ]);
  const { h } = s.route({ authority: 'old.example:8080' }, '/p?q=1');
  assert.equal(s.next.calls.length, 0);
  assert.equal(h.local.status, 301);
  assert.equal(h.local.reason, 'redirect');
  assert.deepEqual(pairs(h.local.headers ?? null), [['location', 'http://new.example:8080/p?q=1']]);
});

test('weighted backends are picked with the injected random', () => {
  const routes = [httpRoute('r', [{ backends: [{ cluster: A, weight: 1 }, { cluster: B, weight: 3 }] }])];
  const r = randoms(0, 0.24, 0.25, 0.99);
  const s = stage(routes, r);
  const picks = [0, 1, 2, 3].map(() => s.route().ex.backend);
  assert.deepEqual(picks, [A, A, B, B]);
  assert.equal(r.calls, 4);
});

test('a backend this proxy does not know is answered 500 no-backend', () => {
  const s = stage([httpRoute('r', [{ backends: [{ cluster: 'default/ghost:http' }] }])]);
  const { h } = s.route();
  assert.equal(s.next.calls.length, 0);
  assert.equal(h.local.status, 500);
  assert.equal(h.local.reason, 'no-backend');
});

test('a rule whose backends all weigh 0 is answered 500 no-backend', () => {
  const s = stage([httpRoute('r', [{ backends: [{ cluster: A, weight: 0 }] }])]);
  const { h } = s.route();
  assert.equal(h.local.reason, 'no-backend');
});

test('request header modifier and URL rewrite become request edits (host -> authority, query kept)', () => {
  const s = stage([
    httpRoute('r', [
      {
        matches: [{ path: { type: 'PathPrefix', value: '/old' } }],
        filters: [
          { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Env', value: 'prod' }], add: [{ name: 'x-add', value: '1' }], remove: ['x-drop'] } },
          { type: 'URLRewrite', urlRewrite: { hostname: 'rewritten.example', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' } } },
        ],
        backends: [{ cluster: A }],
      },
    ]),
  ]);
  const { ex } = s.route({}, '/old/x?k=v');
  const e = ex.requestEdits!;
  assert.ok(e !== null);
  assert.equal(e.target, '/new/x?k=v');
  assert.equal(e.authority, 'rewritten.example');
  assert.deepEqual(pairs(e.set), [['x-env', 'prod']]);
  assert.deepEqual(pairs(e.add), [['x-add', '1']]);
  assert.equal(e.drops('x-drop'), true);
  assert.equal(ex.responseEdits, null);
  assert.equal(ex.path, '/old/x', 'routing state keeps the path the route matched');
});

test('a response header modifier becomes response edits', () => {
  const s = stage([
    httpRoute('r', [{ filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'cache-control', value: 'no-store' }], remove: ['server'] } }], backends: [{ cluster: A }] }]),
  ]);
  const { ex } = s.route();
  assert.equal(ex.requestEdits, null);
  assert.deepEqual(pairs(ex.responseEdits!.set), [['cache-control', 'no-store']]);
  assert.equal(ex.responseEdits!.drops('server'), true);
});

test('CONNECT without routes is refused 405 connect-refused', () => {
  const s = stage(undefined);
  const { h } = s.route({ method: 'CONNECT', target: 'db:5432', upgrade: true }, 'db:5432');
  assert.equal(s.next.calls.length, 0);
  assert.equal(h.local.status, 405);
  assert.equal(h.local.reason, 'connect-refused');
});

test('CONNECT matched by a rule that does not name the method is refused 405', () => {
  const s = stage([httpRoute('r', [{ backends: [{ cluster: A }] }])]);
  const { h } = s.route({ method: 'CONNECT', target: 'db:5432', upgrade: true }, 'db:5432');
  assert.equal(s.next.calls.length, 0);
  assert.equal(h.local.reason, 'connect-refused');
});

test('CONNECT goes on when a match names the CONNECT method', () => {
  const s = stage([httpRoute('r', [{ matches: [{ method: 'CONNECT' }], backends: [{ cluster: B }] }])]);
  const { ex, h } = s.route({ method: 'CONNECT', target: 'db:5432', upgrade: true }, 'db:5432');
  assert.equal(h.events.length, 0);
  assert.equal(s.next.calls.length, 1);
  assert.equal(ex.backend, B);
});

test('hostnames: the request host (ex.host, port ignored) picks the route', () => {
  const s = stage([
    httpRoute('shop', [{ backends: [{ cluster: A }] }], { hostnames: ['shop.example'] }),
    httpRoute('any', [{ backends: [{ cluster: B }] }], { hostnames: ['*.example'] }),
  ]);
  assert.equal(s.route({ authority: 'shop.example:8080' }).ex.backend, A);
  assert.equal(s.route({ authority: 'api.example' }).ex.backend, B);
  const none = s.route({ authority: 'other.test' });
  assert.equal(none.h.local.reason, 'no-route');
});

test('hostnames follow ex.host as normalize set it from an absolute-form target, not the Host header', () => {
  const s = stage([httpRoute('shop', [{ backends: [{ cluster: A }] }], { hostnames: ['shop.example'] })]);
  const { ex, h } = s.route({ headers: ['host', 'other.test'], authority: 'other.test' }, '/', (e) => {
    e.host = 'shop.example';
  });
  assert.equal(h.events.length, 0);
  assert.equal(ex.backend, A);
});
