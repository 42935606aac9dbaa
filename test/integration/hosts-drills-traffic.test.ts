/**
 * Drills over three network-namespace hosts (test/helpers/drill-lab.ts), the mesh's features
 * with the caller and the callee on different hosts: `client` on h1, `web` with one replica on
 * h2 (replica 0) and one on h3 (replica 1). The test plays client's app from the root
 * namespace through client's outbound listener on h1's address; every request crosses the
 * bridge from h1's proxy to h2's or h3's. Each drill with traffic running counts failures.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import WebSocket from 'ws';
import type { StatsView } from '../../src/api/stats.js';
import type { TapMessage } from '../../src/api/tap.js';
import { failuresOf, underLoad, useDrillLab } from '../helpers/drill-lab.js';
import { httpGetOutcome, loadLoop, type LoadStats } from '../helpers/load.js';
import { TRUST_DOMAIN, spiffeId } from '../helpers/meshes.js';
import { labSkipReason } from '../helpers/netns-lab.js';
import { sleep, waitFor } from '../helpers/proc.js';
import { serviceRoute } from '../helpers/traffic-mesh.js';
import { API_ROUTES } from '../../src/control/api/routes.js';
import { controlPlaneTlsOptions } from '../../src/identity/control-plane-tls.js';
import { agentArgv, apiUrlOf } from '../lab/trellis-hosts.js';

const WEB_OUT = 7101;

const meshYaml = (address: (h: string) => string): string => `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata:
  name: it-drills-traffic
spec:
  trustDomain: ${TRUST_DOMAIN}
  tracing: { sampling: 1 }
  workloads:
    - name: client
      hosts: [h1]
      command: [node, http-echo.mjs]
      ports: [{ name: http }]
      upstreams:
        - { service: web, port: http, listen: "${address('h1')}:${WEB_OUT}" }
    - name: web
      hosts: [h2, h3]
      command: [node, http-echo.mjs]
      ports: [{ name: http }]
      readiness: { httpGet: { path: /healthz, port: http }, periodSeconds: 1 }
`;

const policy = (name: string, service: string, spec: string): string => `apiVersion: trellis.dev/v1alpha1
kind: DestinationPolicy
metadata:
  name: ${name}
spec:
  targetRef: { kind: Service, group: "", name: ${service} }
${spec}`;

describe('drills across hosts: traffic features', { skip: labSkipReason() }, () => {
  const drill = useDrillLab({
    hosts: ['h1', 'h2', 'h3'],
    meshYaml,
    agentHosts: ['h1', 'h2', 'h3'],
    trustDomain: TRUST_DOMAIN,
    // Over etcd tracing needs a collector named the same on every replica: replica 1's own.
    controlPlaneArgs: (address) => ['--trace-collector', `${apiUrlOf(address('h1'))}/v1/traces`],
    // client on h1, web once on h2 and once on h3.
    expectWorkloads: 3,
  });
  const d = () => drill.get();
  const out = (path: string): string => `http://${d().address('h1')}:${WEB_OUT}${path}`;
  const get = async (path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> => {
    const res = await request(out(path), { dispatcher: d().http, headers, headersTimeout: 15_000, bodyTimeout: 15_000 });
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
  };

  afterEach(async () => {
    await d().flag('web', 1, 'fail', false);
    await d().clear();
  });

  it('HTTP/1.1 under load reaches web on both h2 and h3, none failed', async () => {
    const seen = new Set<string>();
    const stats = await underLoad(async () => {
      const r = await get('/');
      if (r.status === 200) seen.add(String(r.headers['x-echo-replica']));
      return { ok: r.status === 200, status: r.status };
    }, async (loop) => loop.waitForOk(200, 60_000));
    assert.equal(stats.failed, 0, failuresOf(stats));
    assert.deepEqual([...seen].sort(), ['0', '1'], 'both hosts\' replicas answered');
  });

  it('WebSocket from h1 to a web replica on another host: hello from web, 50 text and binary messages echoed', async () => {
    const ws = new WebSocket(`ws://${d().address('h1')}:${WEB_OUT}/ws`);
    const messages: { data: Buffer; binary: boolean }[] = [];
    const waiters: (() => void)[] = [];
    ws.on('message', (data: Buffer, binary: boolean) => {
      messages.push({ data, binary });
      waiters.shift()?.();
    });
    const next = (): Promise<void> => new Promise((resolve) => waiters.push(resolve));
    const first = next();
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    await first;
    const hello = JSON.parse(messages[0]!.data.toString()) as { hello: string; peer: string };
    assert.deepEqual(hello, { hello: 'web', peer: spiffeId('client') });
    for (let i = 0; i < 50; i++) {
      const answered = next();
      const binary = i % 2 === 1;
      ws.send(binary ? Buffer.from([i, 255 - i]) : `m${i}`, { binary });
      await answered;
      const m = messages[i + 1]!;
      assert.equal(m.binary, binary);
      assert.deepEqual(m.data, binary ? Buffer.from([i, 255 - i]) : Buffer.from(`m${i}`));
    }
    const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
    ws.close(1000);
    assert.equal(await closed, 1000);
  });

  it('a route with retries: every request fails once on the far host and is retried to success, none failed under load', async () => {
    await d().apply(
      serviceRoute(
        'HTTPRoute',
        'web-retries',
        'web',
        `    - backendRefs: [{ name: web, port: 80 }]
      retry: { codes: [503], attempts: 2, backoff: 10ms }
`,
      ) +
        '---\n' +
        // Every request here needs a retry: the default budget (a share of requests) would stop them.
        policy('web-budget', 'web', '  retryBudget: { percent: 100, minRetriesPerSecond: 10 }\n'),
    );
    let n = 0;
    let retried = 0;
    const tag = `r${Date.now()}`;
    const stats = await underLoad(async () => {
      // Each key fails its first request on a replica (503), so every request needs its retry.
      const r = await get(`/flaky/${tag}-${n++}/1/503`);
      if (r.status === 200) retried += 1;
      return { ok: r.status === 200, status: r.status, ...(r.status !== 200 ? { detail: r.body.slice(0, 100) } : {}) };
    }, async (loop) => loop.waitForOk(100, 60_000));
    assert.equal(stats.failed, 0, failuresOf(stats));
    assert.equal(retried, stats.ok);
  });

  it('outlier ejection: web on h3 failing is ejected by h1\'s proxy, then only h2 answers', async () => {
    await d().apply(
      policy(
        'web-outliers',
        'web',
        `  loadBalancer: { type: round-robin }
  outlierDetection: { consecutive5xx: 3, interval: 1s, baseEjectionTime: 60s, maxEjectionPercent: 50 }
`,
      ),
    );
    await d().flag('web', 1, 'fail', true);
    let failures = 0;
    const last: string[] = [];
    for (let i = 0; i < 60; i++) {
      const r = await get('/o');
      if (r.status !== 200) failures++;
      if (i >= 40) last.push(`${r.status}:${String(r.headers['x-echo-replica'])}`);
    }
    assert.ok(failures <= 3, `at most consecutive5xx failures before ejection, saw ${failures}`);
    assert.deepEqual(new Set(last), new Set(['200:0']), 'once ejected, only h2\'s replica answers');
  });

  it('a trace spans hosts: the client span of h1\'s proxy is the parent of the server span of web\'s proxy on h2 or h3, read through either replica', async () => {
    const traceId = Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16)).join('');
    const r = await get('/traced', { traceparent: `00-${traceId}-${'1'.repeat(16)}-01` });
    assert.equal(r.status, 200);
    interface SpanView { spanId: string; parentSpanId?: string; service: string; kind: string }
    const spans = await waitFor(`the spans of ${traceId}`, async () => {
      // Read through replica 2: the spans were collected by replica 1, which it asks for them.
      const t = await d().mesh.replica(1).api<{ spans: SpanView[] }>(`/api/v1/traces/${traceId}`).catch(() => undefined);
      return t !== undefined && t.spans.length >= 2 ? t.spans : undefined;
    }, { timeoutMs: 30_000, intervalMs: 300 });
    const client = spans.find((s) => s.service === 'client' && s.kind === 'client');
    const server = spans.find((s) => s.service === 'web' && s.kind === 'server');
    assert.ok(client && server, JSON.stringify(spans));
    assert.equal(client.parentSpanId, '1'.repeat(16));
    assert.equal(server.parentSpanId, client.spanId);
  });

  it('tap across hosts: the control plane merges the taps of web\'s proxies on h2 and h3', async () => {
    // Round robin, so both hosts' proxies serve (and tap) some of the requests.
    await d().apply(policy('web-rr', 'web', '  loadBalancer: { type: round-robin }\n'));
    const dispatcher = d().mesh.dispatcher();
    const res = await request(`${d().mesh.apiUrl}/api/v1/tap?workload=web&max=20&path=/tapped`, { headers: d().mesh.authHeaders(), ...(dispatcher !== undefined ? { dispatcher } : {}), headersTimeout: 15_000, bodyTimeout: 30_000 });
    assert.equal(res.statusCode, 200);
    const messages: TapMessage[] = [];
    let buffered = '';
    let attached!: () => void;
    const isAttached = new Promise<void>((resolve) => (attached = resolve));
    const done = (async () => {
      for await (const chunk of res.body) {
        buffered += (chunk as Buffer).toString();
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (line.trim() === '') continue;
          const m = JSON.parse(line) as TapMessage;
          messages.push(m);
          if (m.kind === 'attached') attached();
        }
      }
    })();
    await isAttached;
    const loop = loadLoop(httpGetOutcome(out('/tapped'), d().http), { concurrency: 2 });
    let stats: LoadStats;
    try {
      await done;
    } finally {
      stats = await loop.stop();
    }
    assert.equal(stats.failed, 0, failuresOf(stats));
    const first = messages[0] as Extract<TapMessage, { kind: 'attached' }>;
    assert.equal(first.kind, 'attached', JSON.stringify(messages.slice(0, 3)));
    const errors = messages.filter((m) => m.kind === 'error');
    assert.deepEqual(errors, [], 'every proxy of web attached');
    const requests = messages.filter((m): m is Extract<TapMessage, { kind: 'request' }> => m.kind === 'request');
    assert.equal(requests.length, 20);
    assert.equal(new Set(requests.map((m) => m.event.proxy.nodeId)).size, 2, 'requests tapped on both hosts\' proxies');
    assert.equal(first.proxies.length, 2);
  });

  it('stats and the dashboard\'s service graph across hosts: the edge client -> web counts what was sent', async () => {
    // The first read starts the control plane's scraping; rows come from two scrapes.
    await d().mesh.api<StatsView>('/api/v1/stats?window=30s');
    let view: StatsView | undefined;
    const stats = await underLoad(httpGetOutcome(out('/graphed'), d().http), async (loop) => {
      await loop.waitForOk(100, 60_000);
      view = await waitFor('an edge client -> web with requests', async () => {
        const v = await d().mesh.api<StatsView>('/api/v1/stats?window=30s');
        const edge = v.edges.find((e) => e.source === 'default/client' && e.target === 'default/web');
        return edge !== undefined && edge.metrics.requests > 0 ? v : undefined;
      }, { timeoutMs: 30_000, intervalMs: 500 });
    }, 2);
    assert.equal(stats.failed, 0, failuresOf(stats));
    const edge = view!.edges.find((e) => e.source === 'default/client' && e.target === 'default/web')!;
    assert.equal(edge.identity, spiffeId('client'));
    assert.equal(edge.metrics.successRate, 1);
    const web = view!.nodes.find((n) => n.id === 'default/web');
    assert.ok((web?.metrics?.requests ?? 0) > 0, 'web\'s node counts what its proxies on h2 and h3 served');
  });
  it('trellis stat and edges from the root namespace cover the proxies on every host (other hosts\' through the control plane\'s relay)', async () => {
    let stat = { code: -1 as number | null, stdout: '', stderr: '' };
    let edges = { code: -1 as number | null, stdout: '', stderr: '' };
    const stats = await underLoad(httpGetOutcome(out('/statted'), d().http), async () => {
      stat = await d().mesh.cli(['stat', 'services', '--window', '2s', '-o', 'json'], { timeoutMs: 60_000 });
      edges = await d().mesh.cli(['edges', '-o', 'json'], { timeoutMs: 60_000 });
    }, 2);
    assert.equal(stats.failed, 0, failuresOf(stats));
    assert.equal(stat.code, 0, stat.stderr);
    assert.doesNotMatch(stat.stderr, /skipping/, 'every proxy scraped');
    assert.match(stat.stderr, /scraped 3 of 3 proxies/);
    const web = (JSON.parse(stat.stdout) as { rows: { name: string; requests: number }[] }).rows.find((r) => r.name === 'web');
    assert.ok((web?.requests ?? 0) > 0, `web served requests on h2 and h3 in the window: ${stat.stdout}`);
    assert.equal(edges.code, 0, edges.stderr);
    const edge = (JSON.parse(edges.stdout) as { edges: { src: string; dst: string; identity: string }[] }).edges.find((e) => e.dst === 'default/web');
    assert.equal(edge?.identity, spiffeId('client'), edges.stdout);
  });

  /** Joins host `host` with the token in `tokenFile` and a state dir of its own, as a new machine would; resolves with its exit code and log. */
  const joinOn = async (host: string, tokenFile: string, name: string): Promise<{ code: number | null; log: string }> => {
    const logFile = join(d().lab.dir, host, `${name}.log`);
    const child = d().lab.spawn(
      host,
      agentArgv({ meshDir: d().meshDir.dir, stateDir: join(d().lab.dir, host, name), controlPlaneUrls: d().mesh.apiUrls, advertiseAddress: d().address(host), joinTokenFile: tokenFile }),
      { logFile, cwd: d().meshDir.dir },
    );
    const code = await new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (c) => resolve(c))));
    return { code, log: await readFile(logFile, 'utf8').catch(() => '') };
  };
  const createToken = async (host: string, serviceAccounts: string[], ttl: string): Promise<{ file: string; expiresAt: string }> => {
    const r = await d().mesh.cli(['token', 'create', '--host', host, ...serviceAccounts.flatMap((sa) => ['--service-account', sa]), '--ttl', ttl, '-o', 'json', '--control-plane', d().mesh.apiUrls[1]!]);
    assert.equal(r.code, 0, r.stderr);
    const created = JSON.parse(r.stdout) as { token: string; expiresAt: string };
    const file = join(d().lab.dir, host, `token-${Date.now()}`);
    await writeFile(file, `${created.token}\n`, { mode: 0o600 });
    return { file, expiresAt: created.expiresAt };
  };

  it('joining across hosts: a token already spent, or past its ttl, is refused; so is a host asking for an identity its token does not allow', async () => {
    // h3's own token, spent when the lab joined h3, used again from a fresh state dir.
    const twice = await joinOn('h3', join(d().lab.dir, 'h3', 'join-token'), 'agent-again');
    assert.equal(twice.code, 1, twice.log);
    assert.match(twice.log, /join token [0-9a-f]{16} was already used at /);

    const late = await createToken('h3', ['default/web'], '1s');
    const wait = Date.parse(late.expiresAt) - Date.now();
    if (wait > -1) await sleep(wait + 200);
    const expired = await joinOn('h3', late.file, 'agent-late');
    assert.equal(expired.code, 1, expired.log);
    assert.match(expired.log, /join token [0-9a-f]{16} expired at /);

    // h3 runs web (default/web) by the mesh file; this token allows only default/other.
    const narrow = await createToken('h3', ['default/other'], '1h');
    const refused = await joinOn('h3', narrow.file, 'agent-narrow');
    assert.equal(refused.code, 1, refused.log);
    assert.match(refused.log, /host h3 may not run default\/web \(its join token allowed: default\/other\)/);
  });

  it('every REST route that is not open answers 401 without a credential, on both replicas, from another host\'s network', async () => {
    const open = new Set(['GET /healthz', 'GET /api/v1/ca', 'POST /api/v1/join', '* /v1/traces', 'GET /', 'GET /dashboard/*', 'POST /api/v1/agents/:agentId/certificate']);
    const verified = new Agent({ connect: controlPlaneTlsOptions([readFileSync(d().mesh.caFile, 'utf8')]) });
    try {
      for (const api of d().mesh.apiUrls) {
        for (const r of API_ROUTES) {
          if (open.has(`${r.method} ${r.path}`)) continue;
          const method = r.method === '*' ? 'POST' : r.method;
          const path = r.path.replace(/:[A-Za-z]+/g, 'x').replace(/\/\*$/, '/');
          const res = await request(`${api}${path}`, { method: method as 'GET', headers: { 'content-type': 'application/json' }, ...(method === 'GET' ? {} : { body: '{}' }), dispatcher: verified, headersTimeout: 10_000, bodyTimeout: 10_000 });
          const text = await res.body.text();
          assert.equal(res.statusCode, 401, `${method} ${api}${path} (${r.access}) without a credential: ${text}`);
        }
      }
    } finally {
      await verified.close();
    }
  });
});
