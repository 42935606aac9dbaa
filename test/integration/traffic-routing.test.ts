/**
 * HTTPRoute through real proxies: every match type, every filter, weighted splits and A/B
 * routing, applied with `trellis apply` to a running mesh (test/helpers/traffic-mesh.ts).
 * Which backend answered is read from http-echo's x-echo-workload header.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { serviceRoute, useTrafficMesh } from '../helpers/traffic-mesh.js';
import { request } from 'undici';
import type { WorkloadView } from '../../src/api/registry.js';
import { waitFor } from '../helpers/proc.js';

/** An HTTPRoute on service echo; `rules` is YAML indented for the rules list. */
const echoRoute = (name: string, rules: string): string => serviceRoute('HTTPRoute', name, 'echo', rules);

const TO_V1 = `      backendRefs:
        - name: echo-v1
          port: 80`;
const TO_V2 = `      backendRefs:
        - name: echo-v2
          port: 80`;

describe('HTTPRoute through the mesh', () => {
  const tm = useTrafficMesh();
  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => tm.send(tm.ports.echo, path, { method, headers });
  const served = async (path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<string> => {
    const r = await get(path, headers, method);
    assert.equal(r.status, 200, `${method} ${path}: ${r.status} ${String(r.headers['trellis-reason'] ?? '')} ${r.body}`);
    return String(r.headers['x-echo-workload']);
  };

  afterEach(async () => {
    await tm.clear();
  });

  test('without routes, requests go to every replica of the service', async () => {
    // Round robin (a DestinationPolicy on echo) makes the spread exact: three requests, three
    // replicas. (Peak-EWMA, the default, may leave a slower replica alone for a while.)
    await tm.apply(`apiVersion: trellis.dev/v1alpha1
kind: DestinationPolicy
metadata:
  name: echo-rr
spec:
  targetRef: { name: echo }
  loadBalancer: { type: round-robin }
`);
    const seen = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const r = await get('/');
      assert.equal(r.status, 200);
      seen.add(`${String(r.headers['x-echo-workload'])}/${String(r.headers['x-echo-replica'])}`);
    }
    assert.deepEqual([...seen].sort(), ['echo-v1/0', 'echo-v1/1', 'echo-v2/0']);
  });

  test('path matches: Exact, PathPrefix (by segment) and RegularExpression', async () => {
    await tm.apply(
      echoRoute(
        'paths',
        `    - matches:
        - path: { type: Exact, value: /exact }
        - path: { type: PathPrefix, value: /prefix }
        - path: { type: RegularExpression, value: "/items/[0-9]+" }
${TO_V2}
    - matches:
        - path: { type: PathPrefix, value: /exact }
        - path: { type: PathPrefix, value: /prefixed }
${TO_V1}`,
      ),
    );
    assert.equal(await served('/exact'), 'echo-v2');
    assert.equal(await served('/exact/more'), 'echo-v1');
    assert.equal(await served('/prefix'), 'echo-v2');
    assert.equal(await served('/prefix/a/b?x=1'), 'echo-v2');
    assert.equal(await served('/prefixed'), 'echo-v1', 'PathPrefix matches whole segments only');
    assert.equal(await served('/items/42'), 'echo-v2');
    // Regular expressions rank after every PathPrefix (docs/configuration.md), so they are
    // tested without a catch-all rule: a non-matching path is no route at all.
    assert.equal((await get('/items/abc')).status, 404);
  });

  test('regex attack (issue 9): /.*.*.*.*x against a 400-character path is matched by RE2, not backtracked', async () => {
    await tm.apply(
      echoRoute(
        'attack',
        `    - matches:
        - path: { type: RegularExpression, value: "/.*.*.*.*x" }
${TO_V2}`,
      ),
    );
    const long = `/${'a'.repeat(400)}`;
    const miss = await get(long);
    assert.equal(miss.status, 404, 'no match: no route');
    assert.equal(miss.headers['trellis-reason'], 'no-route');
    assert.equal(await served(`${long}x`), 'echo-v2');
  });

  test('a regex JavaScript accepts but RE2 refuses is refused by trellis apply with file:line and the reason', async () => {
    const r = await tm.applyRejected(
      echoRoute(
        'backref',
        `    - matches:
        - path: { type: RegularExpression, value: "/(a+)/\\\\1" }
${TO_V1}`,
      ),
    );
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /\.yaml:12:\d+: HTTPRoute\/backref: spec\.rules\[0\]\.matches\[0\]\.path\.value: invalid regular expression \(RE2 syntax\): invalid escape sequence: `\\1` \(RE2 has no backreferences\)/);
  });

  test('hostnames: a route for echo.example.com applies to that host (any case, any port), not to others', async () => {
    const withHosts = (name: string, hostnames: string, to: string): string =>
      echoRoute(name, `    - ${to.trimStart()}`).replace('  rules:', `  hostnames: ${hostnames}\n  rules:`);
    await tm.apply(`${withHosts('echo-host', '[echo.example.com]', TO_V2)}---\n${withHosts('wild-host', '["*.shop.example"]', TO_V1)}`);
    assert.equal(await served('/', { host: 'echo.example.com' }), 'echo-v2');
    assert.equal(await served('/', { host: 'ECHO.example.com.:8080' }), 'echo-v2');
    assert.equal(await served('/', { host: 'a.b.shop.example' }), 'echo-v1');
    for (const host of ['other.example.com', 'shop.example', `127.0.0.1:${tm.ports.echo}`]) {
      const r = await get('/', { host });
      assert.equal(r.status, 404, host);
      assert.equal(r.headers['trellis-reason'], 'no-route', host);
    }
  });

  test('header (A/B), query parameter and method matches', async () => {
    await tm.apply(
      echoRoute(
        'ab',
        `    - matches:
        - headers:
            - name: x-user-group
              value: beta
        - headers:
            - type: RegularExpression
              name: x-canary
              value: "yes|true"
        - queryParams:
            - name: variant
              value: b
        - method: DELETE
${TO_V2}
    - ${TO_V1.trimStart()}`,
      ),
    );
    for (let i = 0; i < 10; i++) {
      assert.equal(await served('/', { 'x-user-group': 'beta' }), 'echo-v2');
      assert.equal(await served('/', { 'x-user-group': 'stable' }), 'echo-v1');
    }
    assert.equal(await served('/', { 'X-Canary': 'true' }), 'echo-v2', 'header names are case-insensitive');
    assert.equal(await served('/', { 'x-canary': 'maybe' }), 'echo-v1');
    assert.equal(await served('/page?variant=b'), 'echo-v2');
    assert.equal(await served('/page?variant=a'), 'echo-v1');
    assert.equal(await served('/thing', {}, 'DELETE'), 'echo-v2');
    assert.equal(await served('/thing', {}, 'GET'), 'echo-v1');
  });

  test('no matching rule answers 404 no-route and reaches no app', async () => {
    await tm.apply(
      echoRoute(
        'only-api',
        `    - matches:
        - path: { type: PathPrefix, value: /api }
${TO_V1}`,
      ),
    );
    const r = await get('/elsewhere');
    assert.equal(r.status, 404);
    assert.equal(r.headers['trellis-reason'], 'no-route');
  });

  test('request and response header modifiers', async () => {
    await tm.apply(
      echoRoute(
        'headers',
        `    - filters:
        - type: RequestHeaderModifier
          requestHeaderModifier:
            set: [{ name: x-set, value: set-by-route }]
            add: [{ name: x-added, value: added }]
            remove: [x-secret]
        - type: ResponseHeaderModifier
          responseHeaderModifier:
            set: [{ name: x-echo-workload, value: hidden }]
            add: [{ name: x-route, value: headers }]
${TO_V1}`,
      ),
    );
    const r = await get('/h', { 'x-set': 'from-client', 'x-secret': 's3cret' });
    assert.equal(r.status, 200);
    const seen = JSON.parse(r.body) as { headers: Record<string, string> };
    assert.equal(seen.headers['x-set'], 'set-by-route');
    assert.equal(seen.headers['x-added'], 'added');
    assert.equal(seen.headers['x-secret'], undefined);
    assert.equal(r.headers['x-echo-workload'], 'hidden');
    assert.equal(r.headers['x-route'], 'headers');
  });

  test('URLRewrite replaces a path prefix and the host', async () => {
    await tm.apply(
      echoRoute(
        'rewrite',
        `    - matches:
        - path: { type: PathPrefix, value: /old }
      filters:
        - type: URLRewrite
          urlRewrite:
            hostname: rewritten.example
            path: { type: ReplacePrefixMatch, replacePrefixMatch: /new }
${TO_V1}`,
      ),
    );
    const r = await get('/old/page?q=1');
    assert.equal(r.status, 200);
    const seen = JSON.parse(r.body) as { path: string; headers: Record<string, string> };
    assert.equal(seen.path, '/new/page?q=1');
    assert.equal(seen.headers.host, 'rewritten.example');
  });

  test('RequestRedirect answers with a Location and reaches no app', async () => {
    await tm.apply(
      echoRoute(
        'redirect',
        `    - matches:
        - path: { type: PathPrefix, value: /moved }
      filters:
        - type: RequestRedirect
          requestRedirect:
            hostname: new.example
            path: { type: ReplacePrefixMatch, replacePrefixMatch: /here }
            statusCode: 301
    - ${TO_V1.trimStart()}`,
      ),
    );
    const r = await get('/moved/x?y=1');
    assert.equal(r.status, 301);
    // No scheme and no port in the filter: the port the caller used stays (Gateway API).
    assert.equal(r.headers.location, `http://new.example:${tm.ports.echo}/here/x?y=1`);
    assert.equal(r.headers['trellis-reason'], 'redirect');
  });

  test('RequestMirror sends a copy to the mirror; the caller sees only the primary', async () => {
    await tm.apply(
      echoRoute(
        'mirror',
        `    - filters:
        - type: RequestMirror
          requestMirror:
            backendRef: { name: mirror, port: 80 }
${TO_V1}`,
      ),
    );
    const tag = `m-${Date.now()}`;
    const r = await get(`/mirrored/${tag}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-echo-workload'], 'echo-v1');
    const copy = await waitFor('the mirror to record the copy', async () => {
      const m = await tm.send(tm.ports.mirror, '/__requests');
      const list = (JSON.parse(m.body) as { requests: { path: string; headers: Record<string, string> }[] }).requests;
      return list.find((x) => x.path === `/mirrored/${tag}`);
    });
    assert.equal(copy.headers.host, `127.0.0.1-shadow:${tm.ports.echo}`, 'Envoy convention: -shadow on the host name');
  });

  test('weighted backends hold their weights over many requests', async () => {
    await tm.apply(
      echoRoute(
        'split',
        `    - backendRefs:
        - name: echo-v1
          port: 80
          weight: 80
        - name: echo-v2
          port: 80
          weight: 20`,
      ),
    );
    const n = 1000;
    let v2 = 0;
    for (let i = 0; i < n; i++) if ((await served('/split')) === 'echo-v2') v2++;
    // Binomial(1000, 0.2): sd 12.6; five sd either side fails by chance about once in 3 million runs.
    assert.ok(v2 >= 137 && v2 <= 263, `echo-v2 got ${v2} of ${n} requests, expected about 200`);
    // The caller's metrics count each request under the route and the backend it went to.
    const workloads = await tm.mesh.api<WorkloadView[]>('/api/v1/workloads');
    const admin = workloads.find((w) => w.name === 'client')?.replicas[0]?.adminUrl;
    const metrics = await (await request(`${admin}/metrics`)).body.text();
    const counted = (dst: string): number =>
      metrics
        .split('\n')
        .filter((l) => l.startsWith('trellis_requests_total{') && l.includes('direction="outbound"') && l.includes('route="default/split"') && l.includes(`dst_service="${dst}"`))
        .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    assert.equal(counted('echo-v2'), v2);
    assert.equal(counted('echo-v1'), n - v2);
  });

  test('a route to a missing service is accepted, reported unresolved, and its share answered 500', async () => {
    await tm.apply(
      echoRoute(
        'missing-backend',
        `    - backendRefs:
        - name: no-such-service
          port: 80`,
      ),
    );
    const r = await get('/');
    assert.equal(r.status, 500);
    assert.equal(r.headers['trellis-reason'], 'no-backend');
    const view = await tm.mesh.cli(['get', 'httproute', 'missing-backend', '-o', 'json']);
    assert.equal(view.code, 0, view.stderr);
    const status = (JSON.parse(view.stdout) as { status: { parents: { conditions: { type: string; status: string; reason: string }[] }[] } }).status;
    const resolved = status.parents[0]?.conditions.find((c) => c.type === 'ResolvedRefs');
    assert.equal(resolved?.status, 'False');
    assert.equal(resolved?.reason, 'BackendNotFound');
  });
});
