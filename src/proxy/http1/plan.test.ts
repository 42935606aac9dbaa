import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ProxyReason, REASON_HEADER } from '../../errors.js';
import type { RequestPlan } from '../traffic/plan.js';
import {
  countingUpstream, CountingBudget, DecoratedUpstream, fixedPlan, FlakyConnectUpstream, request, retryOn, sleep, waitFor,
} from './plan-test-support.js';
import { closeServer, ConnectUpstream, listen, rawExchange, splitResponses, startProxy } from './test-harness.js';
import type { Http1Upstream, UpstreamLease } from './types.js';

type Plan = RequestPlan<Http1Upstream>;

describe('serveHttp1 with a planner: local replies and edits', () => {
  it('answers plan.local itself with its headers, never contacts an upstream, keeps the connection', async () => {
    const upstream = new ConnectUpstream(1);
    const plan: Plan = fixedPlan(upstream, {
      local: { status: 301, reason: ProxyReason.Redirect, message: 'moved', headers: ['location', 'http://a/new'] },
    });
    const proxy = await startProxy(upstream, { planner: () => plan });
    try {
      const { text, closed } = await rawExchange(proxy.port,
        'POST /old HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc' +
        'GET /old HTTP/1.1\r\nHost: a\r\n\r\n',
        (t) => splitResponses(t).length === 2);
      assert.equal(closed, false);
      const rs = splitResponses(text);
      for (const r of rs) {
        assert.equal(r.status, 301);
        assert.match(r.head, /\r\nlocation: http:\/\/a\/new(\r\n|$)/);
        assert.match(r.head, /\r\ntrellis-reason: redirect/);
        assert.doesNotMatch(r.head, /connection: close/);
      }
      assert.equal(upstream.connects, 0);
      assert.deepEqual(proxy.records.map((r) => [r.method, r.status, r.reason, r.route]), [
        ['POST', 301, 'redirect', 'default/test-route'], ['GET', 301, 'redirect', 'default/test-route'],
      ]);
    } finally {
      await proxy.close();
    }
  });

  it('turns a throwing planner into a 503 connect-failed', async () => {
    const upstream = new ConnectUpstream(1);
    const proxy = await startProxy(upstream, {
      planner: () => {
        throw new Error('bug');
      },
    });
    try {
      const r = await request(proxy.port, { path: '/' });
      assert.equal(r.status, 503);
      assert.equal(r.headers[REASON_HEADER], ProxyReason.ConnectFailed);
      assert.equal(upstream.connects, 0);
    } finally {
      await proxy.close();
    }
  });

  it('forwards the head with the request header modifier and URL rewrite applied', async () => {
    const up = await countingUpstream((_q, res) => res.end('ok'));
    const upstream = new ConnectUpstream(up.port);
    const plan = fixedPlan(upstream, {
      requestHeaders: { set: [['x-set', 'new']], add: [['x-add', '1']], remove: new Set(['x-remove']) },
      rewrite: { rewrite: { hostname: 'backend.local', path: { type: 'ReplacePrefixMatch', value: '/v2' } }, matchedPrefix: '/api' },
    });
    const proxy = await startProxy(upstream, { planner: () => plan });
    try {
      const r = await request(proxy.port, {
        path: '/api/items?q=1', headers: { host: 'svc.local', 'x-set': 'old', 'x-remove': 'gone', 'x-keep': 'k' },
      });
      assert.equal(r.status, 200);
      const seen = up.seen[0]!;
      assert.equal(seen.url, '/v2/items?q=1');
      assert.equal(seen.headers.host, 'backend.local');
      assert.equal(seen.headers['x-set'], 'new');
      assert.equal(seen.headers['x-add'], '1');
      assert.equal(seen.headers['x-keep'], 'k');
      assert.equal(seen.headers['x-remove'], undefined);
      assert.equal(upstream.acquires[0]!.target, '/v2/items?q=1');
      const rec = proxy.records[0]!;
      assert.deepEqual([rec.target, rec.host, rec.route, rec.retries], ['/api/items?q=1', 'svc.local', 'default/test-route', 0]);
    } finally {
      await proxy.close();
      upstream.destroyAll();
      await closeServer(up.server);
    }
  });

  it('edits the response head and adds the lease fields, merged or streamed', async () => {
    const up = await countingUpstream((req, res) => {
      res.setHeader('x-up', 'original');
      res.setHeader('x-drop', '1');
      res.end(req.url === '/big' ? 'b'.repeat(40_000) : 'small');
    });
    const inner = new ConnectUpstream(up.port);
    const upstream = new DecoratedUpstream(inner, ['set-cookie', 'trellis-hash=abc']);
    const plan = fixedPlan(upstream, {
      responseHeaders: { set: [['x-up', 'changed']], add: [['x-route', 'r1']], remove: new Set(['x-drop']) },
    });
    const proxy = await startProxy(upstream, { planner: () => plan });
    try {
      for (const [path, len] of [['/small', 5], ['/big', 40_000]] as const) {
        const r = await request(proxy.port, { path });
        assert.equal(r.status, 200);
        assert.equal(r.body.length, len);
        assert.equal(r.headers['x-up'], 'changed');
        assert.equal(r.headers['x-route'], 'r1');
        assert.equal(r.headers['x-drop'], undefined);
        assert.deepEqual(r.headers['set-cookie'], ['trellis-hash=abc']);
      }
    } finally {
      await proxy.close();
      inner.destroyAll();
      await closeServer(up.server);
    }
  });

  it('adds the lease fields without a planner too', async () => {
    const up = await countingUpstream((_q, res) => res.end('ok'));
    const inner = new ConnectUpstream(up.port);
    const proxy = await startProxy(new DecoratedUpstream(inner, ['set-cookie', 'c=1']));
    try {
      const r = await request(proxy.port, { path: '/' });
      assert.deepEqual(r.headers['set-cookie'], ['c=1']);
    } finally {
      await proxy.close();
      inner.destroyAll();
      await closeServer(up.server);
    }
  });

  it('leaves interim 1xx heads alone', async () => {
    const raw = net.createServer((s) => {
      s.once('data', () => s.write('HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
    });
    const port = await listen(raw);
    const upstream = new DecoratedUpstream(new ConnectUpstream(port), ['set-cookie', 'c=1']);
    const plan = fixedPlan(upstream, { responseHeaders: { set: [], add: [['x-route', 'r1']], remove: new Set() } });
    const proxy = await startProxy(upstream, { planner: () => plan });
    try {
      const { text } = await rawExchange(proxy.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', (t) => t.endsWith('\r\n\r\nok'));
      const [interim, final] = text.split('\r\n\r\n');
      assert.match(interim!, /^HTTP\/1.1 103/);
      assert.doesNotMatch(interim!, /x-route|set-cookie/);
      assert.match(final!, /^HTTP\/1.1 200[^]*\r\nx-route: r1\r\n/);
      assert.match(final!, /\r\nset-cookie: c=1/);
    } finally {
      await proxy.close();
      await closeServer(raw);
    }
  });
});

describe('serveHttp1 with a planner: fault delay and timeouts', () => {
  it('waits the fault delay, then forwards', async () => {
    const up = await countingUpstream((_q, res) => res.end('late'));
    const upstream = new ConnectUpstream(up.port);
    const proxy = await startProxy(upstream, { planner: () => fixedPlan(upstream, { delayMs: 30 }) });
    try {
      const r = await request(proxy.port, { path: '/' });
      assert.equal(r.status, 200);
      assert.equal(r.body, 'late');
      assert.equal(up.seen.length, 1);
    } finally {
      await proxy.close();
      upstream.destroyAll();
      await closeServer(up.server);
    }
  });

  it('a client that resets during the fault delay cancels the request; no upstream is contacted', async () => {
    const upstream = new ConnectUpstream(1);
    let planned!: () => void;
    const wasPlanned = new Promise<void>((r) => (planned = r));
    const proxy = await startProxy(upstream, {
      planner: () => {
        planned();
        return fixedPlan(upstream, { delayMs: 50 });
      },
    });
    try {
      const s = net.connect(proxy.port, '127.0.0.1');
      s.on('error', () => undefined);
      s.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
      await wasPlanned;
      s.resetAndDestroy();
      await waitFor(() => proxy.records.length === 1, 'the cancelled exchange');
      assert.equal(proxy.records[0]!.status, 0);
      await sleep(150); // past the delay: the timer must not wake an acquire
      assert.equal(upstream.acquires.length, 0);
    } finally {
      await proxy.close();
    }
  });

  it('answers 504 upstream-timeout when the try timeout runs out, releasing the upstream as failed', async () => {
    const up = await countingUpstream(() => undefined); // never answers
    const upstream = new ConnectUpstream(up.port);
    const proxy = await startProxy(upstream, { planner: () => fixedPlan(upstream, { tryTimeoutMs: 80 }) });
    try {
      const r = await request(proxy.port, { path: '/' });
      assert.equal(r.status, 504);
      assert.equal(r.headers[REASON_HEADER], ProxyReason.UpstreamTimeout);
      assert.deepEqual(upstream.releases, [{ reusable: false, failed: true }]);
      assert.equal(proxy.records[0]!.reason, ProxyReason.UpstreamTimeout);
    } finally {
      await proxy.close();
      upstream.destroyAll();
      await closeServer(up.server);
    }
  });

  it('retries a GET after a try timeout', async () => {
    const up = await countingUpstream((_q, res, n) => {
      if (n > 1) res.end('second');
    });
    const upstream = new ConnectUpstream(up.port);
    const budget = new CountingBudget();
    const proxy = await startProxy(upstream, {
      planner: () => fixedPlan(upstream, { tryTimeoutMs: 80, retry: retryOn([]), budget }),
    });
    try {
      const r = await request(proxy.port, { path: '/' });
      assert.equal(r.status, 200);
      assert.equal(r.body, 'second');
      assert.equal(proxy.records[0]!.retries, 1);
    } finally {
      await proxy.close();
      upstream.destroyAll();
      await closeServer(up.server);
    }
  });

  it('answers 504 request-timeout when the request timeout runs out before a response head', async () => {
    const up = await countingUpstream(() => undefined);
    const upstream = new ConnectUpstream(up.port);
    const proxy = await startProxy(upstream, { planner: () => fixedPlan(upstream, { requestTimeoutMs: 80 }) });
    try {
      const r = await request(proxy.port, { path: '/' });
      assert.equal(r.status, 504);
      assert.equal(r.headers[REASON_HEADER], ProxyReason.RequestTimeout);
      assert.equal(proxy.records[0]!.reason, ProxyReason.RequestTimeout);
    } finally {
      await proxy.close();
      upstream.destroyAll();
      await closeServer(up.server);
    }
  });

  it('a request timeout during a pending acquire answers 504, closes, and hands the late lease back', async () => {
    let late: ((f: null, l: UpstreamLease) => void) | undefined;
    const hanging: Http1Upstream = { acquire: (_req, cb) => void (late = cb) };
    const proxy = await startProxy(hanging, { planner: () => fixedPlan(hanging, { requestTimeoutMs: 50 }) });
    try {
      const { text, closed } = await rawExchange(proxy.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
      assert.equal(closed, true);
      assert.match(text, /^HTTP\/1.1 504 [^]*\r\ntrellis-reason: request-timeout\r\nconnection: close\r\n/);
      const released: boolean[] = [];
      const sock = new net.Socket();
      late!(null, { socket: sock, reused: false, peer: 'late', release: (reusable) => released.push(reusable) });
      assert.deepEqual(released, [true]);
      sock.destroy();
    } finally {
      await proxy.close();
    }
  });

  it('cuts the connection when the request timeout runs out mid-response', async () => {
    const raw = net.createServer((s) => {
      s.once('data', () => s.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nab'));
    });
    const port = await listen(raw);
    const upstream = new ConnectUpstream(port);
    const proxy = await startProxy(upstream, { planner: () => fixedPlan(upstream, { requestTimeoutMs: 80 }) });
    try {
      const { text, closed } = await rawExchange(proxy.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
      assert.equal(closed, true);
      assert.match(text, /^HTTP\/1.1 200[^]*\r\n\r\nab$/);
      await waitFor(() => proxy.records.length === 1, 'the record');
      const rec = proxy.records[0]!;
      assert.deepEqual([rec.status, rec.reason, rec.upstreamPeer], [200, ProxyReason.RequestTimeout, `127.0.0.1:${port}`]);
      assert.deepEqual(upstream.releases, [{ reusable: false, failed: true }]);
    } finally {
      await proxy.close();
      upstream.destroyAll();
      await closeServer(raw);
    }
  });
});

/** A raw upstream that resets its first connection on the first request byte and answers later ones. */
async function resetFirstUpstream(): Promise<{ server: net.Server; port: number; connections: () => number }> {
  let n = 0;
  const server = net.createServer((s) => {
    const mine = ++n;
    s.on('error', () => undefined);
    s.once('data', () => {
      if (mine === 1) s.resetAndDestroy();
      else s.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
    });
  });
  const port = await listen(server);
  return { server, port, connections: () => n };
}

describe('serveHttp1 with a planner: retries', () => {
  it('retries on a configured status and succeeds on the second attempt', async () => {
    const up = await countingUpstream((_q, res, n) => {
      res.statusCode = n === 1 ? 503 : 200;
      res.end(n === 1 ? 'busy' : 'ok');
    });
    const upstream = new ConnectUpstream(up.port);
    const budget = new CountingBudget();
    const proxy = await startProxy(upstream, {
      planner: () => fixedPlan(upstream, { retry: retryOn([503]), budget }),
      random: () => 0.5,
    });
    try {
      const r = await request(proxy.port, { path: '/' });
      assert.equal(r.status, 200);
      assert.equal(r.body, 'ok');
      assert.equal(up.seen.length, 2);
      assert.deepEqual([budget.requests, budget.asked], [1, 1]);
      assert.deepEqual(upstream.releases[0], { reusable: false, failed: true });
      assert.deepEqual([proxy.records.length, proxy.records[0]!.retries, proxy.records[0]!.status], [1, 1, 200]);
    } finally {
      await proxy.close();
      upstream.destroyAll();
      await closeServer(up.server);
    }
  });

  it('passes the last response through when retries are exhausted', async () => {
    const up = await countingUpstream((_q, res, n) => {
      res.statusCode = 503;
      res.setHeader('x-attempt', String(n));
      res.end('still busy');
    });
    const upstream = new ConnectUpstream(up.port);
    const proxy = await startProxy(upstream, {
      planner: () => fixedPlan(upstream, { retry: retryOn([503], 2), budget: new CountingBudget() }),
    });
    try {
      const r = await request(proxy.port, { path: '/' });
      assert.equal(r.status, 503);
      assert.equal(r.body, 'still busy');
      assert.equal(r.headers['x-attempt'], '3');
      assert.equal(r.headers[REASON_HEADER], undefined);
      assert.equal(up.seen.length, 3);
      assert.equal(proxy.records[0]!.retries, 2);
    } finally {
      await proxy.close();
      upstream.destroyAll();
      await closeServer(up.server);
    }
  });

  it('does not retry when the budget refuses', async () => {
    const up = await countingUpstream((_q, res) => {
      res.statusCode = 503;
      res.end('busy');
    });
    const upstream = new ConnectUpstream(up.port);
    const budget = new CountingBudget(false);
    const proxy = await startProxy(upstream, { planner: () => fixedPlan(upstream, { retry: retryOn([503]), budget }) });
    try {
      const r = await request(proxy.port, { path: '/' });
      assert.equal(r.status, 503);
      assert.equal(up.seen.length, 1);
      assert.deepEqual([budget.requests, budget.asked], [1, 1]);
      assert.equal(proxy.records[0]!.retries, 0);
    } finally {
      await proxy.close();
      upstream.destroyAll();
      await closeServer(up.server);
    }
  });

  it('retries a GET after an upstream reset but not a POST', async () => {
    for (const [method, status, connections] of [['GET', 200, 2], ['POST', 502, 1]] as const) {
      const up = await resetFirstUpstream();
      const upstream = new ConnectUpstream(up.port);
      const proxy = await startProxy(upstream, {
        planner: () => fixedPlan(upstream, { retry: retryOn([503]), budget: new CountingBudget() }),
      });
      try {
        const r = await request(proxy.port, { path: '/', method }, method === 'POST' ? 'data' : undefined);
        assert.equal(r.status, status, method);
        assert.equal(up.connections(), connections, method);
        if (method === 'POST') assert.equal(r.headers[REASON_HEADER], ProxyReason.UpstreamReset);
      } finally {
        await proxy.close();
        upstream.destroyAll();
        await closeServer(up.server);
      }
    }
  });

  it('retries a POST on a configured status, resending its body', async () => {
    const up = await countingUpstream((_q, res, n) => {
      res.statusCode = n === 1 ? 503 : 201;
      res.end();
    });
    const upstream = new ConnectUpstream(up.port);
    const proxy = await startProxy(upstream, {
      planner: () => fixedPlan(upstream, { retry: retryOn([503]), budget: new CountingBudget() }),
    });
    try {
      const r = await request(proxy.port, { path: '/', method: 'POST' }, 'payload');
      assert.equal(r.status, 201);
      assert.deepEqual(up.seen.map((s) => [s.method, s.body]), [['POST', 'payload'], ['POST', 'payload']]);
    } finally {
      await proxy.close();
      upstream.destroyAll();
      await closeServer(up.server);
    }
  });

  it('retries after a connect failure, any method (nothing was sent)', async () => {
    const up = await countingUpstream((_q, res) => res.end('ok'));
    const inner = new ConnectUpstream(up.port);
    const upstream = new FlakyConnectUpstream(inner, 1);
    const proxy = await startProxy(upstream, {
      planner: () => fixedPlan(upstream, { retry: retryOn([]), budget: new CountingBudget() }),
    });
    try {
      const r = await request(proxy.port, { path: '/', method: 'POST' }, 'x');
      assert.equal(r.status, 200);
      assert.equal(upstream.acquires, 2);
      assert.deepEqual(up.seen.map((s) => s.body), ['x']);
      assert.equal(proxy.records[0]!.retries, 1);
    } finally {
      await proxy.close();
      inner.destroyAll();
      await closeServer(up.server);
    }
  });
});

describe('serveHttp1 with a planner: mirrors', () => {
  it('sends a copy with a -shadow host; the client sees only the primary', async () => {
    const primary = await countingUpstream((_q, res) => res.end('primary'));
    const shadow = await countingUpstream((_q, res) => res.end('shadow'));
    const upstream = new ConnectUpstream(primary.port);
    const mirror = new ConnectUpstream(shadow.port);
    const proxy = await startProxy(upstream, { planner: () => fixedPlan(upstream, { mirrors: [mirror] }) });
    try {
      const r = await request(proxy.port, { path: '/orders?id=1', method: 'POST', headers: { host: 'svc:8080' } }, 'copy me');
      assert.equal(r.body, 'primary');
      await waitFor(() => shadow.seen.length === 1 && mirror.releases.length === 1, 'the mirrored copy');
      const copy = shadow.seen[0]!;
      assert.deepEqual([copy.method, copy.url, copy.body], ['POST', '/orders?id=1', 'copy me']);
      assert.equal(copy.headers.host, 'svc-shadow:8080');
      assert.equal(copy.headers.connection, 'close');
      assert.equal(mirror.acquires[0]!.fresh, true);
      assert.deepEqual(mirror.releases, [{ reusable: false, failed: false }]);
      assert.equal(primary.seen[0]!.headers.host, 'svc:8080');
    } finally {
      await proxy.close();
      upstream.destroyAll();
      mirror.destroyAll();
      await closeServer(primary.server);
      await closeServer(shadow.server);
    }
  });

  it('a silent, refused or throwing mirror does not affect the client', async () => {
    const primary = await countingUpstream((_q, res) => res.end('primary'));
    const silent = await countingUpstream(() => undefined);
    const refusing = net.createServer();
    const refusedPort = await listen(refusing);
    await closeServer(refusing);
    const upstream = new ConnectUpstream(primary.port);
    const silentMirror = new ConnectUpstream(silent.port);
    const throwing: Http1Upstream = {
      acquire: () => {
        throw new Error('mirror bug');
      },
    };
    const mirrors = [silentMirror, new ConnectUpstream(refusedPort), throwing];
    const proxy = await startProxy(upstream, { planner: () => fixedPlan(upstream, { mirrors }) });
    try {
      for (let i = 0; i < 2; i++) {
        const r = await request(proxy.port, { path: '/', headers: { host: 'svc' } });
        assert.equal(r.status, 200);
        assert.equal(r.body, 'primary');
      }
      await waitFor(() => silent.seen.length === 2, 'the silent mirror to get its copies');
      assert.equal(silentMirror.releases.length, 0); // still waiting for an answer, bounded by its timeout
    } finally {
      await proxy.close();
      upstream.destroyAll();
      await closeServer(primary.server);
      await closeServer(silent.server); // closes the mirror connections: they end and are released
      await waitFor(() => silentMirror.releases.length === 2, 'the silent mirror leases');
    }
  });

  it('a body larger than the replay buffer is neither retried nor mirrored', async () => {
    const up = await countingUpstream((_q, res) => {
      res.statusCode = 503;
      res.end();
    });
    const upstream = new ConnectUpstream(up.port);
    const mirror = new ConnectUpstream(1);
    const budget = new CountingBudget();
    const proxy = await startProxy(upstream, {
      planner: () => fixedPlan(upstream, { retry: retryOn([503]), budget, mirrors: [mirror] }),
    });
    try {
      const r = await request(proxy.port, { path: '/', method: 'PUT' }, Buffer.alloc(100 * 1024, 'x'));
      assert.equal(r.status, 503);
      assert.equal(up.seen.length, 1);
      assert.equal(up.seen[0]!.body.length, 100 * 1024);
      assert.equal(budget.asked, 0);
      assert.equal(mirror.acquires.length, 0);
    } finally {
      await proxy.close();
      upstream.destroyAll();
      await closeServer(up.server);
    }
  });
});
