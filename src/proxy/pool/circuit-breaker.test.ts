/**
 * Circuit breaking (DestinationPolicy connectionPool) over real sockets: plain TCP "peer
 * proxies" through the connector factory seam; exchanges go through the endpoint stage over
 * ClusterLeases, with attempts the test ends itself (as a codec would), and then whole stacks
 * behind the HTTP/1 and HTTP/2 codecs for what clients do.
 */
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { ClusterConfig, ConnectionPoolConfig } from '../../api/snapshot.js';
import { ProxyReason, REASON_HEADER } from '../../errors.js';
import { systemClock } from '../clock/clock.js';
import type { ClusterTable } from '../cluster/cluster-table.js';
import { closeServer, listen, startProxy } from '../http1/test-harness.js';
import { client, h2Server, proxy, send, until } from '../http2/test-helpers.js';
import { isPermit } from '../pipeline/lease.js';
import type { Permit } from '../pipeline/lease.js';
import type { Service } from '../pipeline/service.js';
import type { Stage } from '../pipeline/stage.js';
import { RetryStage } from '../stages/retry/retry.js';
import { RouteStage } from '../stages/route/route.js';
import { cluster, endpoint } from '../testing/fixtures.js';
import { DrivenEndpoint, tcpTable, testExchange } from '../testing/pool-harness.js';
import { ClusterLeases } from './cluster-source.js';
import { ClusterLimits } from './cluster-limits.js';

let peer: net.Server;
let port: number;
let accepted = 0;
const peerSockets = new Set<net.Socket>();

before(async () => {
  peer = net.createServer((s) => {
    accepted++;
    peerSockets.add(s);
    s.on('error', () => {});
    s.on('close', () => peerSockets.delete(s));
  });
  await new Promise<void>((r) => peer.listen(0, '127.0.0.1', r));
  port = (peer.address() as AddressInfo).port;
});

after(() => {
  for (const s of peerSockets) s.destroy();
  peer.close();
});

const NAME = 'default/backend:http';

function config(pool: ConnectionPoolConfig | undefined, endpoints = [endpoint(port, 'spiffe://t/b')], extra: Partial<ClusterConfig> = {}): ClusterConfig {
  return { ...cluster(NAME, 'http', endpoints, 'round-robin'), ...(pool !== undefined ? { connectionPool: pool } : {}), ...extra };
}

/** The endpoint stage over the table's clusters. */
function driver(t: ClusterTable): DrivenEndpoint {
  return new DrivenEndpoint(new ClusterLeases(t, systemClock));
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function settle(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), 'condition not reached');
}

test('a permit is safe to release twice', () => {
  const limits = new ClusterLimits('c');
  limits.configure({ maxConcurrentRequests: 1 });
  const p = limits.admit();
  assert.ok(isPermit(p));
  assert.equal(limits.activeRequests, 1);
  const refused = limits.admit();
  assert.ok(!isPermit(refused));
  assert.deepEqual(refused, { status: 503, reason: ProxyReason.Overloaded, message: 'cluster c: maxConcurrentRequests 1 reached' });
  assert.equal(limits.activeRequests, 1, 'a refused request is not counted');
  p.release();
  p.release();
  assert.equal(limits.activeRequests, 0, 'the second release changes nothing');
  const q = limits.admit() as Permit;
  assert.equal(limits.activeRequests, 1);
  p.release(); // an old permit cannot give back the place of a newer one
  assert.equal(limits.activeRequests, 1);
  assert.ok(!isPermit(limits.admit()), 'the limit still holds');
  q.release();
  assert.equal(limits.activeRequests, 0);
});

test('maxConcurrentRequests: over the limit is 503 overloaded at once, with exact counts', async () => {
  const t = tcpTable([config({ maxConcurrentRequests: 2 })]);
  const up = driver(t);
  const limits = t.get(NAME)!.limits;
  try {
    const a = up.request(testExchange({ cluster: NAME }));
    const b = up.request(testExchange({ cluster: NAME }));
    await a.result;
    await b.result;
    assert.ok(a.lease !== null && b.lease !== null);
    assert.equal(limits.activeRequests, 2);
    const c = await up.request(testExchange({ cluster: NAME })).result;
    assert.equal(c.lease, null);
    assert.deepEqual(c.reply, { status: 503, reason: ProxyReason.Overloaded, message: `cluster ${NAME}: maxConcurrentRequests 2 reached` });
    assert.equal(limits.activeRequests, 2, 'a refused request is not counted');
    a.finish(true, false);
    assert.equal(limits.activeRequests, 1);
    const d = up.request(testExchange({ cluster: NAME }));
    await d.result;
    assert.equal(d.lease?.reused, true, 'room again: the idle socket is reused');
    a.finish(true, false); // the same exchange ending twice gives back nothing more
    assert.equal(limits.activeRequests, 2);
    b.finish(false, true);
    d.finish(true, false);
    assert.equal(limits.activeRequests, 0);
    await settle(() => limits.openConnections === 1);
    assert.equal(t.get(NAME)!.endpoints[0]!.load.pending, 0);
  } finally {
    t.close();
  }
});

test('maxConnections: waiters queue FIFO, get released sockets handed over, and the queue is bounded', async () => {
  const t = tcpTable([config({ maxConnections: 1, maxPendingRequests: 2 })]);
  const up = driver(t);
  const limits = t.get(NAME)!.limits;
  const before = accepted;
  const order: string[] = [];
  try {
    const a = up.request(testExchange({ cluster: NAME }), order, 'a');
    await a.result;
    assert.ok(a.lease !== null);
    assert.equal(limits.openConnections, 1);
    const b = up.request(testExchange({ cluster: NAME }), order, 'b');
    const c = up.request(testExchange({ cluster: NAME }), order, 'c');
    assert.equal(limits.pendingRequests, 2);
    assert.ok(b.ex.pending !== null, 'a waiting exchange can be cancelled');
    const d = await up.request(testExchange({ cluster: NAME }), order, 'd').result;
    assert.deepEqual(d.reply, { status: 503, reason: ProxyReason.Overloaded, message: `cluster ${NAME}: maxPendingRequests 2 reached` });
    assert.equal(limits.activeRequests, 3, 'a holds, b and c wait');

    const socket = a.http1.socket;
    a.finish(true, false);
    await b.result;
    assert.equal(b.http1.socket, socket, 'b got the very socket a released');
    assert.equal(b.lease?.reused, true);
    assert.equal(limits.pendingRequests, 1);
    await tick();
    assert.deepEqual(order, ['a', 'd', 'b'], 'c still waits');
    b.finish(true, false);
    await c.result;
    assert.equal(c.http1.socket, socket);
    assert.deepEqual(order, ['a', 'd', 'b', 'c']);
    c.finish(true, false);
    assert.equal(accepted - before, 1, 'one connection served all three');
    assert.equal(limits.activeRequests, 0);
    assert.equal(limits.pendingRequests, 0);
    assert.equal(limits.openConnections, 1);
    assert.equal(t.get(NAME)!.endpoints[0]!.http1().idleCount, 1);
  } finally {
    t.close();
  }
});

test('maxConnections: a closed connection frees its slot for the next waiter', async () => {
  const t = tcpTable([config({ maxConnections: 1 })]);
  const up = driver(t);
  const limits = t.get(NAME)!.limits;
  try {
    const a = up.request(testExchange({ cluster: NAME }));
    await a.result;
    const b = up.request(testExchange({ cluster: NAME }));
    assert.equal(limits.pendingRequests, 1);
    a.finish(false, false); // not reusable: destroyed
    await b.result;
    assert.equal(b.lease?.reused, false, 'a new connection, once the old one closed');
    assert.equal(limits.openConnections, 1);
    b.finish(false, true);
    await settle(() => limits.openConnections === 0);
    assert.equal(limits.activeRequests, 0);
  } finally {
    t.close();
  }
});

test('a cancelled waiter leaves no trace: the released socket goes idle, counts return to zero', async () => {
  const t = tcpTable([config({ maxConnections: 1 })]);
  const up = driver(t);
  const limits = t.get(NAME)!.limits;
  try {
    const a = up.request(testExchange({ cluster: NAME }));
    await a.result;
    const b = up.request(testExchange({ cluster: NAME }));
    let settled = false;
    void b.result.then(() => (settled = true));
    assert.equal(limits.pendingRequests, 1);
    assert.equal(limits.activeRequests, 2);
    b.cancel();
    b.cancel(); // twice is harmless
    assert.equal(limits.pendingRequests, 0);
    assert.equal(limits.activeRequests, 1);
    a.finish(true, false);
    await tick();
    assert.equal(settled, false, 'the cancelled exchange hears nothing');
    assert.equal(limits.activeRequests, 0);
    assert.equal(t.get(NAME)!.endpoints[0]!.http1().idleCount, 1);
  } finally {
    t.close();
  }
});

test('a waiter that gets no connection within maxWaitMs is answered 503 overloaded', async () => {
  const t = tcpTable([config({ maxConnections: 1 })]);
  const up = driver(t);
  const limits = t.get(NAME)!.limits;
  limits.maxWaitMs = 50;
  try {
    const a = up.request(testExchange({ cluster: NAME }));
    await a.result;
    const b = await up.request(testExchange({ cluster: NAME })).result;
    assert.equal(b.reply?.reason, ProxyReason.Overloaded);
    assert.match(b.reply?.message ?? '', /no connection within 50 ms/);
    assert.equal(limits.pendingRequests, 0);
    assert.equal(limits.activeRequests, 1);
    a.finish(true, false);
    assert.equal(limits.activeRequests, 0);
  } finally {
    t.close();
  }
});

test('counts stay exact when the endpoint is removed mid-request and when the cluster goes away', async () => {
  const t = tcpTable([config({ maxConnections: 1 })]);
  const up = driver(t);
  const limits = t.get(NAME)!.limits;
  const a = up.request(testExchange({ cluster: NAME }));
  await a.result;
  const waiting = up.request(testExchange({ cluster: NAME }));
  t.apply([config({ maxConnections: 1 }, [])]); // endpoint removed, cluster kept
  assert.equal(t.get(NAME)!.limits, limits, 'the breaker survives the snapshot');
  a.finish(true, false); // its pool is closing: the socket is destroyed, not reused
  const w = await waiting.result;
  assert.equal(w.reply?.reason, ProxyReason.NoEndpoints);
  await settle(() => limits.openConnections === 0);
  assert.equal(limits.activeRequests, 0);

  const t2 = tcpTable([config({ maxConnections: 1 })]);
  const up2 = driver(t2);
  const limits2 = t2.get(NAME)!.limits;
  const b = up2.request(testExchange({ cluster: NAME }));
  await b.result;
  const waiting2 = up2.request(testExchange({ cluster: NAME }));
  t2.apply([]);
  assert.equal((await waiting2.result).reply?.reason, ProxyReason.UnknownCluster);
  b.finish(true, false);
  assert.equal(limits2.activeRequests, 0);
  t2.close();
  t.close();
});

test('without connectionPool the counters are kept but nothing is limited', async () => {
  const t = tcpTable([config(undefined)]);
  const up = driver(t);
  const limits = t.get(NAME)!.limits;
  try {
    const reqs = Array.from({ length: 5 }, () => up.request(testExchange({ cluster: NAME })));
    await Promise.all(reqs.map((r) => r.result));
    assert.ok(reqs.every((r) => r.lease !== null));
    assert.equal(limits.activeRequests, 5);
    assert.equal(limits.openConnections, 5);
    for (const r of reqs) r.finish(true, false);
    assert.equal(limits.activeRequests, 0);
  } finally {
    t.close();
  }
});

test('h2: maxConcurrentRequests counts streams; maxConnections makes streams share a session or wait', async () => {
  const server = http2.createServer();
  server.on('stream', (s) => s.respond({ ':status': 200 }, { endStream: true }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const h2port = (server.address() as AddressInfo).port;
  const eps = [endpoint(h2port, 'spiffe://t/a', 0), { ...endpoint(h2port, 'spiffe://t/b', 1) }];
  const t = tcpTable([{ ...config({ maxConcurrentRequests: 3, maxConnections: 1, maxPendingRequests: 0 }, eps), protocol: 'http2' }]);
  const up = driver(t);
  const limits = t.get(NAME)!.limits;
  const get = (): ReturnType<DrivenEndpoint['request']> => up.request(testExchange({ cluster: NAME, protocol: 'http2' }));
  try {
    const s1 = get();
    await s1.result;
    const s2 = get(); // round robin picks the other endpoint: no new session allowed, so it shares
    await s2.result;
    assert.ok(s1.lease !== null);
    assert.equal(s2.http2.session, s1.http2.session);
    assert.equal(limits.openConnections, 1);
    const s3 = get();
    await s3.result;
    const s4 = await get().result;
    assert.equal(s4.reply?.message, `cluster ${NAME}: maxConcurrentRequests 3 reached`);
    for (const s of [s1, s2, s3]) s.finish(false, false);
    assert.equal(limits.activeRequests, 0);
  } finally {
    t.close();
    server.close();
  }
});

// ---- whole stacks behind the codecs --------------------------------------------------------------

/** An upstream app (HTTP/1 and HTTP/2) that holds every request while `healthy` is false. */
interface HangingApp {
  port: number;
  seen: number;
  healthy: boolean;
  close(): Promise<void>;
}

async function hangingH1App(): Promise<HangingApp> {
  const server = http.createServer();
  const app: HangingApp = { port: 0, seen: 0, healthy: false, close: () => closeServer(server) };
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    app.seen++;
    req.resume();
    if (app.healthy) res.end('ok');
  });
  app.port = await listen(server);
  return app;
}

async function hangingH2App(): Promise<HangingApp> {
  const app: HangingApp = { port: 0, seen: 0, healthy: false, close: async () => {} };
  const listening = await h2Server((stream) => {
    app.seen++;
    stream.resume();
    if (app.healthy) {
      stream.respond({ ':status': 200 });
      stream.end('ok');
    }
  });
  app.port = listening.port;
  app.close = listening.close;
  return app;
}

/** Cluster `c`, limited to 10 requests in flight, whose one endpoint is `app`. */
function limitedTable(protocol: 'http' | 'http2', app: HangingApp, extra: Partial<ClusterConfig> = {}): ClusterTable {
  return tcpTable([{ ...cluster('c', protocol, [endpoint(app.port, 'spiffe://t/ns/default/sa/app')], 'round-robin'), connectionPool: { maxConcurrentRequests: 10 }, ...extra }]);
}

/** One HTTP/1.1 GET on its own connection; resolves with the status line's code and trellis-reason. */
function h1Get(port: number): { socket: net.Socket; reply: Promise<{ status: number; reason: string | undefined }> } {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write('GET / HTTP/1.1\r\nHost: c\r\n\r\n');
  const reply = new Promise<{ status: number; reason: string | undefined }>((resolve) => {
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (text.includes('\r\n\r\n')) {
        const reason = /\r\ntrellis-reason: *([^\r]*)/i.exec(text)?.[1];
        resolve({ status: Number(text.slice(9, 12)), reason });
        socket.destroy();
      }
    });
    socket.on('close', () => resolve({ status: 0, reason: undefined }));
  });
  return { socket, reply };
}

/** The HTTP/1 codec over [route(c), endpoint(ClusterLeases)]. */
function h1Front(t: ClusterTable, more: ((next: Service) => Stage)[] = []): ReturnType<typeof startProxy> {
  return startProxy(new ClusterLeases(t, systemClock), {
    stages: [(next) => new RouteStage({ clusters: t, parent: 'c', random: () => 0 }, next), ...more],
  });
}

describe('circuit breaker: clients that leave give their permits back (HTTP/1 and HTTP/2)', () => {
  /**
   * The repro over HTTP/1: 10 clients give up on a hanging endpoint. `leave` is how:
   * destroy() (a FIN after the complete request: what a client library does when it gives up)
   * or resetAndDestroy() (an RST).
   */
  async function clientsLeaveH1(leave: (s: net.Socket) => void): Promise<void> {
    const app = await hangingH1App();
    const t = limitedTable('http', app);
    const front = await h1Front(t);
    const limits = t.get('c')!.limits;
    try {
      const gone = Array.from({ length: 10 }, () => h1Get(front.port));
      await until(() => app.seen === 10, 'ten requests at the endpoint');
      assert.equal(limits.activeRequests, 10);
      const over = await h1Get(front.port).reply;
      assert.deepEqual(over, { status: 503, reason: ProxyReason.Overloaded }, 'the limit is reached while they wait');
      for (const g of gone) leave(g.socket);
      await until(() => limits.activeRequests === 0, 'every permit given back');
      app.healthy = true;
      const served = await Promise.all(Array.from({ length: 10 }, () => h1Get(front.port).reply));
      assert.deepEqual(served, Array.from({ length: 10 }, () => ({ status: 200, reason: undefined })), 'the whole limit is free again');
      assert.equal(limits.activeRequests, 0);
    } finally {
      await front.close();
      t.close();
      await app.close();
    }
  }

  it('HTTP/1: 10 clients that destroy their socket on a hanging endpoint; then it recovers and serves, never 503 overloaded', async () => {
    await clientsLeaveH1((s) => s.destroy());
  });

  it('HTTP/1: 10 clients that reset their connection (RST) on a hanging endpoint; then it recovers and serves', async () => {
    await clientsLeaveH1((s) => s.resetAndDestroy());
  });

  it('HTTP/2: 10 streams cancelled by their client on a hanging endpoint; then it recovers and serves, never 503 overloaded', async () => {
    const app = await hangingH2App();
    const t = limitedTable('http2', app);
    const front = await proxy(new ClusterLeases(t, systemClock), { clusters: t, site: { cluster: 'c' } });
    const session = await client(front.port);
    const limits = t.get('c')!.limits;
    try {
      const gone = Array.from({ length: 10 }, () => {
        const req = session.request({ ':method': 'GET', ':path': '/' });
        req.on('error', () => {});
        return req;
      });
      await until(() => app.seen === 10, 'ten streams at the endpoint');
      assert.equal(limits.activeRequests, 10);
      const over = await send(session, { ':method': 'GET', ':path': '/' });
      assert.equal(over.headers[':status'], 503, 'the limit is reached while they wait');
      assert.equal(over.headers[REASON_HEADER], ProxyReason.Overloaded);
      for (const g of gone) g.close(http2.constants.NGHTTP2_CANCEL);
      await until(() => limits.activeRequests === 0, 'every permit given back');
      app.healthy = true;
      const served = await Promise.all(Array.from({ length: 10 }, () => send(session, { ':method': 'GET', ':path': '/' })));
      assert.deepEqual(served.map((r) => r.headers[':status']), Array.from({ length: 10 }, () => 200), 'the whole limit is free again');
      assert.equal(limits.activeRequests, 0);
    } finally {
      session.close();
      await front.close();
      t.close();
      await app.close();
    }
  });
});

describe('circuit breaker: a retried answer gives its permit back (HTTP/1 and HTTP/2)', () => {
  /** Cluster `c`, one request in flight at most, whose route retries a 503 once at once. */
  function retryingTable(protocol: 'http' | 'http2', appPort: number): ClusterTable {
    return tcpTable([
      {
        ...cluster('c', protocol, [endpoint(appPort, 'spiffe://t/ns/default/sa/app')], 'round-robin'),
        connectionPool: { maxConcurrentRequests: 1 },
        routes: { routes: [{ kind: 'HTTPRoute', namespace: 'default', name: 'r', createdAt: 0, rules: [{ backends: [{ cluster: 'c' }], retry: { codes: [503], attempts: 1, backoffMs: 0 } }] }] },
      },
    ]);
  }

  it('HTTP/1: a 503 retried to a 200 leaves no request counted in flight', async () => {
    let n = 0;
    const server = http.createServer((req, res) => {
      req.resume();
      res.statusCode = n++ === 0 ? 503 : 200;
      res.end('x');
    });
    const appPort = await listen(server);
    const t = retryingTable('http', appPort);
    const front = await h1Front(t, [(next) => new RetryStage({ clusters: t, clock: systemClock, random: () => 0 }, next)]);
    const limits = t.get('c')!.limits;
    try {
      const first = await h1Get(front.port).reply;
      assert.deepEqual(first, { status: 200, reason: undefined }, 'the retry is not refused by the one permit the exchange holds');
      assert.equal(n, 2);
      await until(() => front.records.length === 1, 'the record');
      assert.equal(limits.activeRequests, 0);
    } finally {
      await front.close();
      t.close();
      await closeServer(server);
    }
  });

  it('HTTP/2: a 503 retried to a 200 leaves no request counted in flight', async () => {
    let n = 0;
    const app = await h2Server((stream) => {
      stream.resume();
      stream.respond({ ':status': n++ === 0 ? 503 : 200 });
      stream.end('x');
    });
    const t = retryingTable('http2', app.port);
    const front = await proxy(new ClusterLeases(t, systemClock), { clusters: t, site: { cluster: 'c' } });
    const session = await client(front.port);
    const limits = t.get('c')!.limits;
    try {
      const first = await send(session, { ':method': 'GET', ':path': '/' });
      assert.equal(first.headers[':status'], 200, `the retry is not refused by the one permit the exchange holds (${String(first.headers[REASON_HEADER])})`);
      assert.equal(n, 2);
      await until(() => front.records.length === 1, 'the record');
      assert.equal(limits.activeRequests, 0);
    } finally {
      session.close();
      await front.close();
      t.close();
      await app.close();
    }
  });
});
