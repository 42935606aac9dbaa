import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { ClusterConfig, RouteConfig } from '../../api/snapshot.js';
import type { ProxyRuntime } from '../runtime.js';
import { bootstrap, cluster, endpoint, id, portOf, runtime, snapshot, testPki } from '../testing/fixtures.js';
import type { TestPki } from '../testing/fixtures.js';

// One pipeline for HTTP/1 and HTTP/2 (issue 9, Part 1): the same scenarios, through the same
// stages, over real proxy pairs (mTLS between them, the codec of each protocol at both ends),
// give the same answers whatever the protocol. Each app says who served it and echoes what it
// received, so the tests see exactly the head the mesh forwarded.

type Proto = 'http1' | 'http2';
const PROTOS: readonly Proto[] = ['http1', 'http2'];

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

interface Seen {
  method: string;
  path: string;
  host: string;
  headers: Record<string, string>;
  body: string;
}

/** What one app replica does: by path. Records every request it gets. */
class App {
  readonly seen: Seen[] = [];
  private readonly flaky = new Map<string, number>();
  private h1!: http.Server;
  private h2!: http2.Http2Server;
  h1Port = 0;
  h2Port = 0;

  constructor(readonly name: string) {}

  async start(): Promise<void> {
    this.h1 = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
        const out = this.answer({ method: req.method ?? '', path: req.url ?? '', host: req.headers.host ?? '', headers, body: Buffer.concat(chunks).toString() });
        if (out === null) return; // hang
        res.writeHead(out.status, { 'x-served-by': this.name, 'content-type': 'application/json' });
        res.end(out.body);
      });
    });
    this.h2 = http2.createServer();
    this.h2.on('stream', (stream, h) => {
      const chunks: Buffer[] = [];
      stream.on('error', () => {});
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(h)) if (typeof v === 'string' && !k.startsWith(':')) headers[k] = v;
        const out = this.answer({ method: String(h[':method']), path: String(h[':path']), host: String(h[':authority'] ?? ''), headers, body: Buffer.concat(chunks).toString() });
        if (out === null || stream.destroyed) return;
        stream.respond({ ':status': out.status, 'x-served-by': this.name, 'content-type': 'application/json' });
        stream.end(out.body);
      });
    });
    this.h1Port = await listenOn(this.h1);
    this.h2Port = await listenOn(this.h2);
  }

  private answer(s: Seen): { status: number; body: string } | null {
    this.seen.push(s);
    const path = s.path.split('?')[0] ?? '';
    if (path.startsWith('/park')) return null;
    if (path.startsWith('/flaky/')) {
      const n = (this.flaky.get(path) ?? 0) + 1;
      this.flaky.set(path, n);
      if (n === 1) return { status: 503, body: 'try again' };
    }
    if (path.startsWith('/status/')) return { status: Number(path.slice(8)), body: '' };
    return { status: 200, body: JSON.stringify(s) };
  }

  stop(): void {
    this.h1.close();
    this.h1.closeAllConnections();
    this.h2.close();
  }

  count(path: string): number {
    return this.seen.filter((x) => x.path === path).length;
  }
}

function listenOn(server: http.Server | http2.Http2Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

let pki: TestPki;
const apps = { b1: new App('b1'), b2: new App('b2'), shadow: new App('shadow') };
const backends: Record<keyof typeof apps, ProxyRuntime | null> = { b1: null, b2: null, shadow: null };
let client: ProxyRuntime;
let version = 1;

function clusterName(service: string, proto: Proto): string {
  return `default/${service}:${proto === 'http1' ? 'http' : 'h2'}`;
}

function routes(proto: Proto): RouteConfig[] {
  const self = clusterName('b', proto);
  const prefix = (value: string): { path: { type: 'PathPrefix'; value: string } }[] => [{ path: { type: 'PathPrefix', value } }];
  return [
    {
      kind: 'HTTPRoute', namespace: 'default', name: 'b-routes', createdAt: 1,
      rules: [
        { matches: prefix('/admin'), backends: [{ cluster: self }], filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-route', value: 'admin' }] } }] },
        {
          matches: prefix('/edit'),
          backends: [{ cluster: self }],
          filters: [
            { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/echo' } } },
            { type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'x-added', value: '1' }], remove: ['x-drop'] } },
            { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'x-resp', value: 'r' }] } },
          ],
        },
        { matches: prefix('/fault'), backends: [{ cluster: self }], filters: [{ type: 'Fault', fault: { abort: { status: 418, percent: 100 } } }] },
        { matches: prefix('/flaky'), backends: [{ cluster: self }], retry: { codes: [503], attempts: 2, backoffMs: 0 } },
        { matches: prefix('/park-timeout'), backends: [{ cluster: self }], timeouts: { requestMs: 150 } },
        { matches: prefix('/mirror'), backends: [{ cluster: self }], filters: [{ type: 'RequestMirror', requestMirror: { cluster: clusterName('shadow', proto) } }] },
        { matches: [...prefix('/echo'), ...prefix('/status'), ...prefix('/park')], backends: [{ cluster: self }] },
      ],
    },
  ];
}

/** The client's snapshot: b (with routes) on both protocols, with the given b replicas, and the shadow. */
function clientSnapshot(replicas: ('b1' | 'b2')[], extra: Partial<ClusterConfig> = {}): ReturnType<typeof snapshot> {
  const clusters: ClusterConfig[] = [];
  for (const proto of PROTOS) {
    const listener = proto === 'http1' ? 'http' : 'h2';
    const eps = replicas.map((r, i) => endpoint(portOf(backends[r]!, listener, 'inbound'), id('b'), i));
    clusters.push({ ...cluster(clusterName('b', proto), proto === 'http1' ? 'http' : 'http2', eps), routes: { routes: routes(proto) }, ...extra });
    clusters.push(cluster(clusterName('shadow', proto), proto === 'http1' ? 'http' : 'http2', [endpoint(portOf(backends.shadow!, listener, 'inbound'), id('shadow'))]));
  }
  return snapshot(++version, pki, clusters);
}

async function backendProxy(name: keyof typeof apps, identity: string): Promise<ProxyRuntime> {
  const app = apps[name];
  const rt = await runtime(
    pki,
    bootstrap(identity, [
      { name: 'http', protocol: 'http', listen: { host: '127.0.0.1', port: 0 }, app: { host: '127.0.0.1', port: app.h1Port } },
      { name: 'h2', protocol: 'http2', listen: { host: '127.0.0.1', port: 0 }, app: { host: '127.0.0.1', port: app.h2Port } },
    ], []),
  );
  assert.equal(rt.applySnapshot(snapshot(1, pki, [])), null);
  await rt.startListeners();
  return rt;
}

before(async () => {
  pki = await testPki();
  for (const app of Object.values(apps)) await app.start();
  backends.b1 = await backendProxy('b1', id('b'));
  backends.b2 = await backendProxy('b2', id('b'));
  backends.shadow = await backendProxy('shadow', id('shadow'));
  client = await runtime(
    pki,
    bootstrap(id('a'), [], [
      { name: 'b-http', protocol: 'http', listen: { host: '127.0.0.1', port: 0 }, cluster: clusterName('b', 'http1') },
      { name: 'b-h2', protocol: 'http2', listen: { host: '127.0.0.1', port: 0 }, cluster: clusterName('b', 'http2') },
    ]),
  );
  assert.equal(client.applySnapshot(clientSnapshot(['b1'])), null);
  await client.startListeners();
});

after(async () => {
  client.close();
  for (const rt of Object.values(backends)) rt?.close();
  for (const app of Object.values(apps)) app.stop();
  await pki.cleanup();
});

interface Send {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Give up (destroy the connection / reset the stream) after this many ms, resolving with status 0. */
  abandonAfterMs?: number;
}

function send(proto: Proto, path: string, opts: Send = {}): Promise<Reply> {
  return proto === 'http1' ? sendH1(path, opts) : sendH2(path, opts);
}

function sendH1(path: string, opts: Send): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: portOf(client, 'b-http', 'outbound'), method: opts.method ?? 'GET', path, headers: opts.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      },
    );
    if (opts.abandonAfterMs !== undefined) {
      setTimeout(() => {
        req.destroy();
        resolve({ status: 0, headers: {}, body: '' });
      }, opts.abandonAfterMs);
    }
    req.on('error', (err) => (opts.abandonAfterMs !== undefined ? undefined : reject(err)));
    req.end(opts.body);
  });
}

function sendH2(path: string, opts: Send): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${portOf(client, 'b-h2', 'outbound')}`);
    session.on('error', () => {});
    const stream = session.request({ ':method': opts.method ?? 'GET', ':path': path, ':authority': 'b', ...opts.headers }, { endStream: opts.body === undefined });
    let headers: Record<string, string | string[] | undefined> = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (headers = h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      session.close();
      resolve({ status: Number(headers[':status'] ?? 0), headers, body: Buffer.concat(chunks).toString() });
    });
    stream.on('error', (err) => (opts.abandonAfterMs !== undefined ? undefined : reject(err)));
    if (opts.abandonAfterMs !== undefined) {
      setTimeout(() => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        session.destroy();
        resolve({ status: 0, headers: {}, body: '' });
      }, opts.abandonAfterMs);
    }
    if (opts.body !== undefined) stream.end(opts.body);
  });
}

function seenBy(r: Reply): Seen {
  return JSON.parse(r.body) as Seen;
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

for (const proto of PROTOS) {
  describe(`one pipeline over ${proto}`, () => {
    test('the app gets the request as sent, with the caller\'s verified identity; a client-sent one is replaced', async () => {
      const r = await send(proto, '/echo/x?q=1', { method: 'POST', body: 'hello', headers: { 'trellis-peer-identity': 'spiffe://evil/ns/x/sa/y' } });
      assert.equal(r.status, 200);
      const s = seenBy(r);
      assert.equal(s.method, 'POST');
      assert.equal(s.path, '/echo/x?q=1');
      assert.equal(s.body, 'hello');
      assert.equal(s.headers['trellis-peer-identity'], id('a'));
    });

    test('paths are normalized once, before routing, and the app receives what routing saw', async () => {
      for (const trick of ['/echo/../admin/z', '/%61dmin/z', '//admin/z', '/./admin/z', '/%2e%2e/admin/z']) {
        const r = await send(proto, trick);
        assert.equal(r.status, 200, trick);
        const s = seenBy(r);
        assert.equal(s.path, '/admin/z', trick);
        assert.equal(s.headers['x-route'], 'admin', `${trick} took the /admin route`);
      }
      const before = apps.b1.seen.length;
      for (const refused of ['/admin%2Fz', '/admin%00', '/admin%5cz']) {
        const r = await send(proto, refused);
        assert.equal(r.status, 400, refused);
        assert.equal(r.headers['trellis-reason'], 'bad-path', refused);
      }
      assert.equal(apps.b1.seen.length, before, 'no refused path reached the app');
    });

    test('route edits: URL rewrite and request header modifier reach the app; the response modifier reaches the client', async () => {
      const r = await send(proto, '/edit/p?k=v', { headers: { 'x-drop': 'gone', 'x-keep': 'kept' } });
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-resp'], 'r');
      const s = seenBy(r);
      assert.equal(s.path, '/echo/p?k=v');
      assert.equal(s.headers['x-added'], '1');
      assert.equal(s.headers['x-drop'], undefined);
      assert.equal(s.headers['x-keep'], 'kept');
    });

    test('local answers carry their reason: fault abort, no route', async () => {
      const f = await send(proto, '/fault');
      assert.equal(f.status, 418);
      assert.equal(f.headers['trellis-reason'], 'fault-injected');
      const n = await send(proto, '/nowhere');
      assert.equal(n.status, 404);
      assert.equal(n.headers['trellis-reason'], 'no-route');
    });

    test('a retried status is tried again and the second answer is the client\'s', async () => {
      const path = `/flaky/${proto}`;
      const r = await send(proto, path);
      assert.equal(r.status, 200);
      assert.equal(apps.b1.count(path), 2);
    });

    test('the request timeout answers 504 request-timeout', async () => {
      const r = await send(proto, '/park-timeout');
      assert.equal(r.status, 504);
      assert.equal(r.headers['trellis-reason'], 'request-timeout');
    });

    test('a mirror gets a copy with a -shadow host; the client sees only the primary', async () => {
      const path = `/mirror/${proto}`;
      const r = await send(proto, path, { method: 'PUT', body: 'copy me' });
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-served-by'], 'b1');
      await until('the mirrored copy', () => apps.shadow.count(path) === 1);
      const copy = apps.shadow.seen.find((x) => x.path === path)!;
      assert.match(copy.host, /-shadow/);
      assert.equal(copy.body, 'copy me');
    });

    test('clients that leave give their circuit-breaker permits back, so the service is not locked out', async () => {
      assert.equal(client.applySnapshot(clientSnapshot(['b1'], { connectionPool: { maxConcurrentRequests: 3 } })), null);
      try {
        const abandoned = await Promise.all([1, 2, 3].map((i) => send(proto, `/park/${proto}/${i}`, { abandonAfterMs: 150 })));
        assert.deepEqual(abandoned.map((r) => r.status), [0, 0, 0]);
        const c = client.clusters.get(clusterName('b', proto))!;
        await until(`every permit given back (${c.limits.activeRequests} held)`, () => c.limits.activeRequests === 0).catch((e: Error) => assert.fail(`${e.message}: ${c.limits.activeRequests} still held`));
        const r = await send(proto, '/echo/after');
        assert.equal(r.status, 200, `${r.status} ${String(r.headers['trellis-reason'])}`);
      } finally {
        assert.equal(client.applySnapshot(clientSnapshot(['b1'])), null);
      }
    });

    test('failover: a peer whose app is down answers app-unavailable and the request goes to another endpoint', async () => {
      assert.equal(client.applySnapshot(clientSnapshot(['b1', 'b2'])), null);
      const down = await backendProxyTo(proto);
      try {
        assert.equal(client.applySnapshot(clientSnapshotWith(down, proto)), null);
        for (let i = 0; i < 6; i++) {
          const r = await send(proto, `/echo/failover-${i}`);
          assert.equal(r.status, 200, `request ${i}: ${r.status} ${String(r.headers['trellis-reason'])}`);
          assert.equal(r.headers['x-served-by'], 'b2');
        }
      } finally {
        down.close();
        assert.equal(client.applySnapshot(clientSnapshot(['b1'])), null);
      }
    });
  });
}

/** A proxy for identity b whose app is not listening (its inbound answers 503 app-unavailable). */
async function backendProxyTo(proto: Proto): Promise<ProxyRuntime> {
  const name = proto === 'http1' ? 'http' : 'h2';
  const rt = await runtime(
    pki,
    bootstrap(id('b'), [{ name, protocol: proto === 'http1' ? 'http' : 'http2', listen: { host: '127.0.0.1', port: 0 }, app: { host: '127.0.0.1', port: 1 } }], []),
  );
  assert.equal(rt.applySnapshot(snapshot(1, pki, [])), null);
  await rt.startListeners();
  return rt;
}

/** b = [a replica whose app is down, b2], for one protocol; the other protocol keeps b1. */
function clientSnapshotWith(down: ProxyRuntime, proto: Proto): ReturnType<typeof snapshot> {
  const s = clientSnapshot(['b1', 'b2']);
  const name = proto === 'http1' ? 'http' : 'h2';
  const c = s.clusters.find((x) => x.name === clusterName('b', proto))!;
  c.endpoints = [endpoint(portOf(down, name, 'inbound'), id('b'), 0), endpoint(portOf(backends.b2!, name, 'inbound'), id('b'), 1)];
  return s;
}
