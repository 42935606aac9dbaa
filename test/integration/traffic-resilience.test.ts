/**
 * Timeouts, retries and budgets, circuit breaking, outlier ejection, active health checks,
 * fault injection and sticky sessions, through real proxies (test/helpers/traffic-mesh.ts).
 * Outcomes are asserted (statuses, reasons, which replica answered, what the app saw), never
 * durations.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { serviceRoute, useTrafficMesh, type HttpResult } from '../helpers/traffic-mesh.js';
import { waitFor } from '../helpers/proc.js';

const route = (name: string, rules: string): string => serviceRoute('HTTPRoute', name, 'echo', rules);

function policy(name: string, service: string, spec: string): string {
  return `apiVersion: trellis.dev/v1alpha1
kind: DestinationPolicy
metadata:
  name: ${name}
spec:
  targetRef:
    kind: Service
    group: ""
    name: ${service}
${spec}`;
}

/** Every request to echo goes to `service`, with `extra` YAML (timeouts, retry, filters) on the rule. */
function allTo(service: string, extra = ''): string {
  return route(
    `all-to-${service}`,
    `    - backendRefs:
        - name: ${service}
          port: 80
${extra}`,
  );
}

const reason = (r: HttpResult): string => String(r.headers['trellis-reason'] ?? '');

describe('resilience through the mesh', () => {
  const tm = useTrafficMesh();
  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => tm.send(tm.ports.echo, path, { method, headers });
  /** Waits until a request to `path` is answered 200 by echo-v1's `replica` (back after ejection or a failed health check). */
  const servedAgainBy = (replica: number, path: string, what: string): Promise<true> =>
    waitFor(what, async () => {
      const r = await get(path);
      return r.status === 200 && r.headers['x-echo-replica'] === String(replica) ? true : undefined;
    }, { timeoutMs: 20_000, intervalMs: 50 });
  /** Requests the echo-v2 app saw whose path starts with `prefix`. */
  const seenByV2 = async (prefix: string): Promise<number> => {
    const r = await get('/__requests');
    const list = (JSON.parse(r.body) as { workload: string; requests: { path: string }[] });
    assert.equal(list.workload, 'echo-v2');
    return list.requests.filter((x) => x.path.startsWith(prefix)).length;
  };

  afterEach(async () => {
    await tm.flag('echo-v1', 0, 'fail', false);
    await tm.flag('echo-v1', 1, 'fail', false);
    await tm.flag('echo-v1', 0, 'unhealthy', false);
    await tm.clear();
  });

  test('timeouts.request answers 504 request-timeout; timeouts.backendRequest 504 upstream-timeout', async () => {
    await tm.apply(
      allTo(
        'echo-v2',
        `      timeouts:
        request: 300ms`,
      ),
    );
    const slow = await get('/delay/3000');
    assert.equal(slow.status, 504);
    assert.equal(reason(slow), 'request-timeout');
    assert.equal((await get('/delay/0')).status, 200);

    await tm.apply(
      allTo(
        'echo-v2',
        `      timeouts:
        request: 5s
        backendRequest: 200ms`,
      ),
    );
    const perTry = await get('/delay/3000');
    assert.equal(perTry.status, 504);
    assert.equal(reason(perTry), 'upstream-timeout');
  });

  test('retries on configured codes succeed within their attempts, for any method, and stop when attempts run out', async () => {
    await tm.apply(
      allTo(
        'echo-v2',
        `      retry:
        codes: [503]
        attempts: 2
        backoff: 10ms`,
      ),
    );
    const tag = `r${Date.now()}`;
    const ok = await get(`/flaky/${tag}-a/2/503`);
    assert.equal(ok.status, 200, 'two failures, then the second retry succeeds');
    const post = await get(`/flaky/${tag}-b/1/503`, {}, 'POST');
    assert.equal(post.status, 200, 'a configured code is retried for POST too');
    const exhausted = await get(`/flaky/${tag}-c/5/503`);
    assert.equal(exhausted.status, 503, 'after 1 + 2 attempts the last response passes through');
    assert.equal(exhausted.headers['x-attempt'], '3');
    const other = await get(`/flaky/${tag}-d/1/500`);
    assert.equal(other.status, 500, 'a code not listed is not retried');
    assert.equal(await seenByV2(`/flaky/${tag}-d`), 1);
  });

  test('the retry budget caps retries under a total outage', async () => {
    await tm.apply(
      allTo(
        'echo-v2',
        `      retry:
        codes: [503]
        attempts: 3
        backoff: 1ms`,
      ) +
        '---\n' +
        policy(
          'budget',
          'echo-v2',
          `  retryBudget:
    percent: 20
    minRetriesPerSecond: 1`,
        ),
    );
    const tag = `outage${Date.now()}`;
    const n = 100;
    for (let i = 0; i < n; i++) {
      const r = await get(`/status/503?${tag}=${i}`);
      assert.equal(r.status, 503);
    }
    const seen = await seenByV2(`/status/503?${tag}`);
    // Without a budget: 400 attempts. With it: retries are at most 20% of the requests in the
    // last 10 s (these 100, plus up to ~25 from the previous test) plus 1/s over that window.
    assert.ok(seen >= n, `every request reached the app at least once (saw ${seen})`);
    assert.ok(seen <= n + 25 + 10, `retries stayed within the budget: the app saw ${seen} attempts for ${n} requests`);
  });

  test('circuit breaking: maxConnections with a pending queue', async () => {
    await tm.apply(
      allTo('echo-v2') +
        '---\n' +
        policy(
          'conns',
          'echo-v2',
          `  connectionPool:
    maxConnections: 1
    maxPendingRequests: 1`,
        ),
    );
    const results = await Promise.all(Array.from({ length: 4 }, () => get('/delay/1000')));
    const ok = results.filter((r) => r.status === 200).length;
    const overloaded = results.filter((r) => r.status === 503 && reason(r) === 'overloaded').length;
    assert.equal(ok, 2, `one in flight and one queued succeed: ${results.map((r) => `${r.status}/${reason(r)}`).join(' ')}`);
    assert.equal(overloaded, 2);
  });

  test('circuit breaking: maxConcurrentRequests answers 503 overloaded at once', async () => {
    await tm.apply(
      allTo('echo-v2') +
        '---\n' +
        policy(
          'limits',
          'echo-v2',
          `  connectionPool:
    maxConcurrentRequests: 2`,
        ),
    );
    const results = await Promise.all(Array.from({ length: 6 }, () => get('/delay/1500')));
    const ok = results.filter((r) => r.status === 200).length;
    const overloaded = results.filter((r) => r.status === 503 && reason(r) === 'overloaded').length;
    assert.equal(ok, 2, `statuses: ${results.map((r) => `${r.status}/${reason(r)}`).join(' ')}`);
    assert.equal(overloaded, 4);
    assert.equal((await get('/after')).status, 200, 'the breaker closes when load drops');
  });

  test('outlier detection ejects a failing replica and takes it back after it recovers', async () => {
    await tm.apply(
      allTo('echo-v1') +
        '---\n' +
        policy(
          'outliers',
          'echo-v1',
          // Round robin: once back, the replica gets its turn at once (peak-EWMA may prefer
          // the other one for a while, which is the balancer's business, not ejection's).
          `  loadBalancer:
    type: round-robin
  outlierDetection:
    consecutive5xx: 3
    interval: 1s
    baseEjectionTime: 2s
    maxEjectionPercent: 50`,
        ),
    );
    await tm.flag('echo-v1', 1, 'fail', true);
    let failures = 0;
    const last: string[] = [];
    for (let i = 0; i < 60; i++) {
      const r = await get('/o');
      if (r.status !== 200) failures++;
      if (i >= 40) last.push(`${r.status}:${String(r.headers['x-echo-replica'])}`);
    }
    assert.ok(failures <= 3, `at most consecutive5xx failures before ejection, saw ${failures}`);
    assert.deepEqual(new Set(last), new Set(['200:0']), 'once ejected, only the healthy replica answers');
    await tm.flag('echo-v1', 1, 'fail', false);
    await servedAgainBy(1, '/o', 'the recovered replica to serve again');
  });

  test('active health checks take an unhealthy replica out and bring it back', async () => {
    await tm.apply(
      allTo('echo-v1') +
        '---\n' +
        policy(
          'health',
          'echo-v1',
          `  loadBalancer:
    type: round-robin
  healthCheck:
    http: { path: /health }
    interval: 200ms
    timeout: 100ms
    unhealthyThreshold: 2
    healthyThreshold: 1`,
        ),
    );
    await tm.flag('echo-v1', 0, 'unhealthy', true);
    const onlyReplica1 = async (): Promise<boolean | undefined> => {
      for (let i = 0; i < 20; i++) {
        const r = await get('/hc');
        if (r.status !== 200 || r.headers['x-echo-replica'] !== '1') return undefined;
      }
      return true;
    };
    await waitFor('replica 0 to be taken out', onlyReplica1, { timeoutMs: 20_000, intervalMs: 100 });
    await tm.flag('echo-v1', 0, 'unhealthy', false);
    await servedAgainBy(0, '/hc', 'replica 0 to serve again');
  });

  test('fault injection aborts its percentage of requests and delays without failing', async () => {
    await tm.apply(
      `apiVersion: trellis.dev/v1alpha1
kind: FaultInjection
metadata:
  name: flaky-30
spec:
  abort:
    httpStatus: 503
    percentage: 30
---
` +
        allTo(
          'echo-v2',
          `      filters:
        - type: ExtensionRef
          extensionRef:
            group: trellis.dev
            kind: FaultInjection
            name: flaky-30`,
        ),
    );
    const n = 500;
    let aborted = 0;
    for (let i = 0; i < n; i++) {
      const r = await get('/f');
      if (r.status === 503) {
        assert.equal(reason(r), 'fault-injected');
        aborted++;
      } else assert.equal(r.status, 200);
    }
    // Binomial(500, 0.3): sd 10.2; five sd either side.
    assert.ok(aborted >= 99 && aborted <= 201, `${aborted} of ${n} aborted, expected about 150`);

    await tm.apply(
      `apiVersion: trellis.dev/v1alpha1
kind: FaultInjection
metadata:
  name: flaky-30
spec:
  delay:
    fixedDelay: 20ms
    percentage: 100
`,
    );
    for (let i = 0; i < 5; i++) assert.equal((await get('/f')).status, 200);
  });

  test('sticky sessions: consistent hashing on a header and on a cookie the proxy sets', async () => {
    await tm.apply(
      allTo('echo-v1') +
        '---\n' +
        policy(
          'sticky',
          'echo-v1',
          `  loadBalancer:
    type: consistent-hash
    hashOn:
      header: x-user`,
        ),
    );
    const replicas = new Set<string>();
    for (let u = 0; u < 20; u++) {
      const seen = new Set<string>();
      for (let i = 0; i < 5; i++) seen.add(String((await get('/s', { 'x-user': `user-${u}` })).headers['x-echo-replica']));
      assert.equal(seen.size, 1, `user-${u} went to replicas ${[...seen].join(',')}`);
      replicas.add([...seen][0] as string);
    }
    // 20 users all on one of two replicas: about one chance in 500,000.
    assert.equal(replicas.size, 2, 'different users spread over both replicas');

    await tm.apply(
      policy(
        'sticky',
        'echo-v1',
        `  loadBalancer:
    type: consistent-hash
    hashOn:
      cookie: { name: trellis-affinity, ttl: 1h }`,
      ),
    );
    const first = await get('/c');
    const setCookie = String(first.headers['set-cookie'] ?? '');
    assert.match(setCookie, /^trellis-affinity=[^;]+;/);
    const cookie = setCookie.split(';')[0] as string;
    const replica = String(first.headers['x-echo-replica']);
    for (let i = 0; i < 10; i++) {
      const r = await get('/c', { cookie });
      assert.equal(r.headers['x-echo-replica'], replica);
      assert.equal(r.headers['set-cookie'], undefined, 'no new cookie once the client has one');
    }
  });
});
