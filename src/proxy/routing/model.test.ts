import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { HttpRouteMatchConfig, RouteConfig } from '../../api/snapshot.js';
import { table } from './test-helpers.js';

// Property: route() agrees with a direct, unoptimised reading of the Gateway API precedence
// rules over random small tables (no sorting tricks, no shared code with compile.ts/table.ts),
// hostnames included: the route's most specific matching hostname ranks first.

const HOSTNAMES = ['a.example.com', 'b.a.example.com', '*.example.com', '*.a.example.com', 'example.com'];
const HOSTS = ['a.example.com', 'b.a.example.com', 'c.b.a.example.com', 'example.com', 'other.org', 'A.Example.com.:8080'];

const PATHS = ['/', '/a', '/a/', '/a/b', '/ab', '/a/b/c'];

const matchArb: fc.Arbitrary<HttpRouteMatchConfig> = fc.record(
  {
    path: fc.record({ type: fc.constantFrom('Exact' as const, 'PathPrefix' as const), value: fc.constantFrom(...PATHS) }),
    method: fc.constantFrom('GET', 'POST'),
    headers: fc.subarray([{ name: 'x', value: '1' }, { name: 'y', value: '1' }]),
    queryParams: fc.subarray([{ name: 'q', value: '1' }, { name: 'r', value: '1' }]),
  },
  { requiredKeys: [] },
);

const routesArb = fc
  .array(
    fc.record({
      createdAt: fc.integer({ min: 0, max: 2 }),
      hostnames: fc.option(fc.subarray(HOSTNAMES), { nil: undefined }),
      rules: fc.array(fc.array(matchArb, { maxLength: 2 }), { minLength: 1, maxLength: 3 }),
    }),
    { minLength: 1, maxLength: 4 },
  )
  .chain((rs) =>
    fc.shuffledSubarray(['n1', 'n2', 'n3', 'n4', 'n5'], { minLength: rs.length, maxLength: rs.length }).map((names) =>
      rs.map(
        (r, i): RouteConfig => ({
          kind: 'HTTPRoute',
          namespace: 'ns',
          name: names[i] as string,
          createdAt: r.createdAt,
          ...(r.hostnames !== undefined ? { hostnames: r.hostnames } : {}),
          rules: r.rules.map((matches, ri) => ({ matches, backends: [{ cluster: `${names[i]}#${ri}` }] })),
        }),
      ),
    ),
  );

const requestArb = fc.record({
  method: fc.constantFrom('GET', 'POST'),
  path: fc.constantFrom(...PATHS, '/a/b/c/d', '/b'),
  query: fc.subarray(['q=1', 'r=1', 'r=2']),
  headers: fc.subarray(['x', 'y']),
  host: fc.option(fc.constantFrom(...HOSTS), { nil: undefined }),
});

/**
 * [characters of a matching non-wildcard hostname, characters of the matching hostname] of the
 * route's best hostname for `rawHost`, [0, 0] for a route without hostnames, null when it has
 * hostnames and none matches (spec text of HTTPRoute.spec.hostnames, read directly).
 */
function refHostKey(route: RouteConfig, rawHost: string | undefined): number[] | null {
  const names = route.hostnames ?? [];
  if (names.length === 0) return [0, 0];
  if (rawHost === undefined) return null;
  const host = rawHost.toLowerCase().split(':')[0]?.replace(/\.$/, '') ?? '';
  let best: number[] | null = null;
  for (const n of names) {
    let key: number[] | null = null;
    if (n.startsWith('*.')) {
      const hostLabels = host.split('.');
      const suffix = n.slice(2).split('.');
      if (hostLabels.length > suffix.length && hostLabels.slice(-suffix.length).join('.') === suffix.join('.')) key = [0, n.length];
    } else if (n === host) key = [n.length, n.length];
    if (key !== null && (best === null || better(key, best))) best = key;
  }
  return best;
}

function refMatches(m: HttpRouteMatchConfig, method: string, path: string, query: string[], headers: string[]): boolean {
  const p = m.path ?? { type: 'PathPrefix', value: '/' };
  if (p.type === 'Exact' && path !== p.value) return false;
  if (p.type === 'PathPrefix') {
    const segs = p.value.split('/').filter((s) => s !== '');
    const have = path.split('/').filter((s) => s !== '');
    if (segs.some((s, i) => have[i] !== s)) return false;
  }
  if (m.method !== undefined && m.method !== method) return false;
  if ((m.headers ?? []).some((h) => !headers.includes(h.name))) return false;
  if ((m.queryParams ?? []).some((q) => !query.includes(`${q.name}=${q.value}`) || query.find((x) => x.startsWith(`${q.name}=`)) !== `${q.name}=${q.value}`)) return false;
  return true;
}

/** Larger tuple = higher precedence, compared left to right. */
function refKey(route: RouteConfig, ruleIndex: number, matchIndex: number, m: HttpRouteMatchConfig): (number | string)[] {
  const p = m.path ?? { type: 'PathPrefix', value: '/' };
  const len = p.type === 'Exact' ? p.value.length : p.value.replace(/\/+$/, '').length;
  return [p.type === 'Exact' ? 1 : 0, len, m.method !== undefined ? 1 : 0, (m.headers ?? []).length, (m.queryParams ?? []).length, -route.createdAt, `${route.namespace}/${route.name}`, -ruleIndex, -matchIndex];
}

function better(a: (number | string)[], b: (number | string)[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number | string;
    const y = b[i] as number | string;
    if (x === y) continue;
    if (typeof x === 'string') return x < (y as string); // name: alphabetical first wins
    return x > (y as number);
  }
  return false;
}

test('route() agrees with a direct reading of the precedence rules', () => {
  fc.assert(
    fc.property(routesArb, fc.array(requestArb, { minLength: 1, maxLength: 10 }), (routes, requests) => {
      const t = table(routes);
      for (const req of requests) {
        const target = req.query.length > 0 ? `${req.path}?${req.query.join('&')}` : req.path;
        const headers = req.headers.flatMap((h) => [h, '1']);
        if (req.host !== undefined) headers.push('host', req.host);
        let best: { key: (number | string)[]; backend: string } | undefined;
        for (const route of routes) {
          const hostKey = refHostKey(route, req.host);
          if (hostKey === null) continue;
          route.rules.forEach((rule, ri) => {
            const matches = (rule as { matches?: HttpRouteMatchConfig[] }).matches ?? [];
            (matches.length === 0 ? [{}] : matches).forEach((m, mi) => {
              if (!refMatches(m, req.method, req.path, req.query, req.headers)) return;
              const key = [...hostKey, ...refKey(route, ri, mi, m)];
              if (best === undefined || better(key, best.key)) best = { key, backend: rule.backends[0]?.cluster as string };
            });
          });
        }
        const got = t.route(req.method, target, headers);
        assert.equal(got === null ? null : got.rule.backends[0]?.cluster, best?.backend ?? null, `${req.method} ${target} [${req.headers}] host ${req.host}`);
      }
    }),
    { numRuns: 300 },
  );
});
