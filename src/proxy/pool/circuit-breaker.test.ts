/**
 * Circuit breaking (DestinationPolicy connectionPool) over real sockets: plain TCP "peer
 * proxies" through the connector factory seam, leases driven directly like the forwarder does.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { ClusterConfig, ConnectionPoolConfig } from '../../api/snapshot.js';
import { ProxyReason } from '../../errors.js';
import { ClusterTable } from '../cluster/cluster-table.js';
import type { UpstreamFailure, UpstreamLease } from '../http1/types.js';
import type { StreamLease } from '../http2/types.js';
import { cluster, endpoint } from '../testing/fixtures.js';
import { ClusterHttp1Upstream } from './cluster-upstream.js';
import { tcpConnector } from './connect.js';
import { ClusterHttp2Upstream } from './h2-upstream.js';

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

function table(c: ClusterConfig): ClusterTable {
  const t = new ClusterTable({ connector: (ec, _alpn, timeoutMs) => tcpConnector(ec.host, ec.port, timeoutMs) });
  t.apply([c]);
  return t;
}

interface Outcome {
  failure: UpstreamFailure | null;
  lease: UpstreamLease | null;
}

/** Starts an acquire; `result` settles when the callback comes (maybe much later). */
function acquire(up: ClusterHttp1Upstream, order?: string[], tag?: string): { result: Promise<Outcome>; cancel: (() => void) | undefined } {
  let cancel: (() => void) | undefined;
  const result = new Promise<Outcome>((resolve) => {
    cancel = up.acquire({ method: 'GET', target: '/', host: undefined, headers: [], upgrade: false }, (failure, lease) => {
      if (tag !== undefined) order?.push(tag);
      resolve({ failure, lease });
    });
  });
  return { result, cancel };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function settle(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), 'condition not reached');
}

test('maxConcurrentRequests: over the limit is 503 overloaded at once, with exact counts', async () => {
  const t = table(config({ maxConcurrentRequests: 2 }));
  const up = new ClusterHttp1Upstream(t, NAME);
  const limits = t.get(NAME)!.limits;
  try {
    const a = await acquire(up).result;
    const b = await acquire(up).result;
    assert.ok(a.lease !== null && b.lease !== null);
    assert.equal(limits.activeRequests, 2);
    const c = await acquire(up).result;
    assert.equal(c.lease, null);
    assert.deepEqual(c.failure, { status: 503, reason: ProxyReason.Overloaded, message: `cluster ${NAME}: maxConcurrentRequests 2 reached` });
    assert.equal(limits.activeRequests, 2, 'a refused request is not counted');
    a.lease.release(true, false);
    assert.equal(limits.activeRequests, 1);
    const d = await acquire(up).result;
    assert.equal(d.lease?.reused, true, 'room again: the idle socket is reused');
    a.lease.release(true, false); // a second release of the same lease changes nothing
    assert.equal(limits.activeRequests, 2);
    b.lease.release(false, true);
    d.lease!.release(true, false);
    assert.equal(limits.activeRequests, 0);
    await settle(() => limits.openConnections === 1);
    assert.equal(t.get(NAME)!.endpoints[0]!.load.pending, 0);
  } finally {
    t.close();
  }
});

test('maxConnections: waiters queue FIFO, get released sockets handed over, and the queue is bounded', async () => {
  const t = table(config({ maxConnections: 1, maxPendingRequests: 2 }));
  const up = new ClusterHttp1Upstream(t, NAME);
  const limits = t.get(NAME)!.limits;
  const before = accepted;
  const order: string[] = [];
  try {
    const a = await acquire(up, order, 'a').result;
    assert.ok(a.lease !== null);
    assert.equal(limits.openConnections, 1);
    const b = acquire(up, order, 'b');
    const c = acquire(up, order, 'c');
    assert.equal(typeof b.cancel, 'function', 'a waiting request can be cancelled');
    assert.equal(limits.pendingRequests, 2);
    const d = await acquire(up, order, 'd').result;
    assert.deepEqual(d.failure, { status: 503, reason: ProxyReason.Overloaded, message: `cluster ${NAME}: maxPendingRequests 2 reached` });
    assert.equal(limits.activeRequests, 3, 'a holds, b and c wait');

    const socket = a.lease.socket;
    a.lease.release(true, false);
    const gotB = await b.result;
    assert.equal(gotB.lease?.socket, socket, 'b got the very socket a released');
    assert.equal(gotB.lease?.reused, true);
    assert.equal(limits.pendingRequests, 1);
    await tick();
    assert.deepEqual(order, ['a', 'd', 'b'], 'c still waits');
    gotB.lease.release(true, false);
    const gotC = await c.result;
    assert.equal(gotC.lease?.socket, socket);
    assert.deepEqual(order, ['a', 'd', 'b', 'c']);
    gotC.lease!.release(true, false);
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
  const t = table(config({ maxConnections: 1 }));
  const up = new ClusterHttp1Upstream(t, NAME);
  const limits = t.get(NAME)!.limits;
  try {
    const a = await acquire(up).result;
    const b = acquire(up);
    assert.equal(limits.pendingRequests, 1);
    a.lease!.release(false, false); // not reusable: destroyed
    const gotB = await b.result;
    assert.equal(gotB.lease?.reused, false, 'a new connection, once the old one closed');
    assert.equal(limits.openConnections, 1);
    gotB.lease!.release(false, true);
    await settle(() => limits.openConnections === 0);
    assert.equal(limits.activeRequests, 0);
  } finally {
    t.close();
  }
});

test('a cancelled waiter leaves no trace: the released socket goes idle, counts return to zero', async () => {
  const t = table(config({ maxConnections: 1 }));
  const up = new ClusterHttp1Upstream(t, NAME);
  const limits = t.get(NAME)!.limits;
  try {
    const a = await acquire(up).result;
    let called = false;
    const b = up.acquire({ method: 'GET', target: '/', host: undefined, headers: [], upgrade: false }, () => (called = true));
    assert.equal(limits.pendingRequests, 1);
    assert.equal(limits.activeRequests, 2);
    b!();
    b!(); // twice is harmless
    assert.equal(limits.pendingRequests, 0);
    assert.equal(limits.activeRequests, 1);
    a.lease!.release(true, false);
    await tick();
    assert.equal(called, false);
    assert.equal(limits.activeRequests, 0);
    assert.equal(t.get(NAME)!.endpoints[0]!.http1().idleCount, 1);
  } finally {
    t.close();
  }
});

test('a waiter that gets no connection within maxWaitMs is answered 503 overloaded', async () => {
  const t = table(config({ maxConnections: 1 }));
  const up = new ClusterHttp1Upstream(t, NAME);
  const limits = t.get(NAME)!.limits;
  limits.maxWaitMs = 50;
  try {
    const a = await acquire(up).result;
    const b = await acquire(up).result;
    assert.equal(b.failure?.reason, ProxyReason.Overloaded);
    assert.match(b.failure?.message ?? '', /no connection within 50 ms/);
    assert.equal(limits.pendingRequests, 0);
    assert.equal(limits.activeRequests, 1);
    a.lease!.release(true, false);
    assert.equal(limits.activeRequests, 0);
  } finally {
    t.close();
  }
});

test('counts stay exact when the endpoint is removed mid-request and when the cluster goes away', async () => {
  const t = table(config({ maxConnections: 1 }));
  const up = new ClusterHttp1Upstream(t, NAME);
  const limits = t.get(NAME)!.limits;
  const a = await acquire(up).result;
  const waiting = acquire(up);
  t.apply([config({ maxConnections: 1 }, [])]); // endpoint removed, cluster kept
  assert.equal(t.get(NAME)!.limits, limits, 'the breaker survives the snapshot');
  a.lease!.release(true, false); // its pool is closing: the socket is destroyed, not reused
  const w = await waiting.result;
  assert.equal(w.failure?.reason, ProxyReason.NoEndpoints);
  await settle(() => limits.openConnections === 0);
  assert.equal(limits.activeRequests, 0);

  const t2 = table(config({ maxConnections: 1 }));
  const up2 = new ClusterHttp1Upstream(t2, NAME);
  const b = await acquire(up2).result;
  const waiting2 = acquire(up2);
  t2.apply([]);
  assert.equal((await waiting2.result).failure?.reason, ProxyReason.UnknownCluster);
  b.lease!.release(true, false);
  t2.close();
  t.close();
});

test('without connectionPool the counters are kept but nothing is limited', async () => {
  const t = table(config(undefined));
  const up = new ClusterHttp1Upstream(t, NAME);
  const limits = t.get(NAME)!.limits;
  try {
    const leases = await Promise.all(Array.from({ length: 5 }, () => acquire(up).result));
    assert.ok(leases.every((l) => l.lease !== null));
    assert.equal(limits.activeRequests, 5);
    assert.equal(limits.openConnections, 5);
    for (const l of leases) l.lease!.release(true, false);
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
  const t = table({ ...config({ maxConcurrentRequests: 3, maxConnections: 1, maxPendingRequests: 0 }, eps), protocol: 'http2' });
  const up = new ClusterHttp2Upstream(t, NAME);
  const limits = t.get(NAME)!.limits;
  const get = (): Promise<{ failure: UpstreamFailure | null; lease: StreamLease | null }> =>
    new Promise((resolve) => up.acquire((failure, lease) => resolve({ failure, lease })));
  try {
    const s1 = await get();
    const s2 = await get(); // round robin picks the other endpoint: no new session allowed, so it shares
    assert.equal(s2.lease?.session, s1.lease?.session);
    assert.equal(limits.openConnections, 1);
    const s3 = await get();
    const s4 = await get();
    assert.equal(s4.failure?.message, `cluster ${NAME}: maxConcurrentRequests 3 reached`);
    for (const s of [s1, s2, s3]) s.lease!.release(false, 0);
    assert.equal(limits.activeRequests, 0);
  } finally {
    t.close();
    server.close();
  }
});
