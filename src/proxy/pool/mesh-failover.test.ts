/**
 * Failover after a mesh-made answer (the peer's inbound proxy could not reach its app, or it
 * drains), over real sockets: the HTTP/1 and HTTP/2 codecs in front of the endpoint stage over
 * ClusterLeases, whose endpoints are fake "peer proxies" (plain TCP / h2c here; the mTLS
 * connector is tested in cluster-source.test.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { ClientHttp2Session, IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { ProxyReason, REASON_HEADER } from '../../errors.js';
import { systemClock } from '../clock/clock.js';
import type { ClusterTable } from '../cluster/cluster-table.js';
import type { Endpoint } from '../cluster/endpoint.js';
import { closeServer, listen, startProxy } from '../http1/test-harness.js';
import { GRPC_HEAD, client, grpcFrame, grpcOk, grpcTrailersOnly, h2Server, proxy, send as sendH2 } from '../http2/test-helpers.js';
import type { Listening } from '../http2/test-helpers.js';
import { MAX_MESH_FAILOVERS } from '../stages/endpoint/failover.js';
import { RouteStage } from '../stages/route/route.js';
import { cluster, endpoint } from '../testing/fixtures.js';
import { tcpTable } from '../testing/pool-harness.js';
import { ClusterLeases } from './cluster-source.js';

/**
 * What a fake peer proxy answers: `dead` like an inbound proxy whose app refused (503
 * app-unavailable), `draining` like a draining proxy (503 draining), `reset` like one whose app
 * closed the connection without answering (502 upstream-reset), `app503` an app's own 503 (no
 * trellis-reason). gRPC callers get the same as a trailers-only UNAVAILABLE.
 */
type Kind = 'ok' | 'dead' | 'draining' | 'app503' | 'reset';

interface Peer {
  port: number;
  requests: number;
  bodies: number[];
  close(): Promise<void>;
}

const MESH_ANSWER: Partial<Record<Kind, [number, ProxyReason]>> = {
  dead: [503, ProxyReason.AppUnavailable],
  draining: [503, ProxyReason.Draining],
  reset: [502, ProxyReason.UpstreamReset],
};

async function h1Peer(kind: Kind, name: string): Promise<Peer> {
  const server = http.createServer();
  const p: Peer = { port: 0, requests: 0, bodies: [], close: () => closeServer(server) };
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    p.requests++;
    let n = 0;
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('end', () => {
      p.bodies.push(n);
      const mesh = MESH_ANSWER[kind];
      if (kind === 'ok') {
        res.end(`${name} ${req.method} ${n}`);
      } else if (mesh !== undefined) {
        res.writeHead(mesh[0], { [REASON_HEADER]: mesh[1], 'content-type': 'text/plain' });
        res.end(`${mesh[1]} from the peer proxy\n`);
      } else {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('the app itself is overloaded\n');
      }
    });
  });
  p.port = await listen(server);
  return p;
}

async function h2Peer(kind: Kind, name: string): Promise<Peer> {
  const p: Peer = { port: 0, requests: 0, bodies: [], close: async () => {} };
  const listening: Listening = await h2Server((stream, headers: IncomingHttpHeaders) => {
    p.requests++;
    const grpc = headers['content-type'] === 'application/grpc';
    let n = 0;
    stream.on('data', (d: Buffer) => (n += d.length));
    stream.once('end', () => {
      p.bodies.push(n);
      const mesh = MESH_ANSWER[kind];
      if (kind === 'ok') {
        if (grpc) grpcOk(stream, name);
        else {
          stream.respond({ ':status': 200 });
          stream.end(`${name} ${String(headers[':method'])} ${n}`);
        }
      } else if (grpc) {
        grpcTrailersOnly(stream, 14, mesh !== undefined ? { [REASON_HEADER]: mesh[1] } : {});
      } else if (mesh !== undefined) {
        stream.respond({ ':status': mesh[0], [REASON_HEADER]: mesh[1], 'content-type': 'text/plain' });
        stream.end(`${mesh[1]} from the peer proxy\n`);
      } else {
        stream.respond({ ':status': 503, 'content-type': 'text/plain' });
        stream.end('the app itself is overloaded\n');
      }
    });
  });
  p.port = listening.port;
  p.close = listening.close;
  return p;
}

function table(protocol: 'http' | 'http2', ports: number[]): ClusterTable {
  // round robin walks the list in order: the first endpoint is tried first
  return tcpTable([cluster('c', protocol, ports.map((p, i) => endpoint(p, `spiffe://t/ns/default/sa/p${i}`, i)), 'round-robin')]);
}

interface Reply {
  status: number;
  reason: string | undefined;
  body: string;
}

function send(port: number, agent: http.Agent, method: string, body?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: '/x', agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        const r = res.headers[REASON_HEADER];
        resolve({ status: res.statusCode ?? 0, reason: Array.isArray(r) ? r.join(',') : r, body: text });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function withSetup(kinds: Kind[], fn: (ctx: { peers: Peer[]; port: number; agent: http.Agent; table: ClusterTable }) => Promise<void>): Promise<void> {
  const peers: Peer[] = [];
  for (let i = 0; i < kinds.length; i++) peers.push(await h1Peer(kinds[i]!, `p${i}`));
  const t = table('http', peers.map((p) => p.port));
  const front = await startProxy(new ClusterLeases(t, systemClock), {
    stages: [(next) => new RouteStage({ clusters: t, parent: 'c', random: () => 0 }, next)],
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await fn({ peers, port: front.port, agent, table: t });
  } finally {
    agent.destroy();
    await front.close();
    t.close();
    for (const p of peers) await p.close();
  }
}

describe('failover after a mesh-made 503', () => {
  it('a GET answered app-unavailable is resent to another endpoint, which is then preferred', async () => {
    await withSetup(['dead', 'ok'], async ({ peers, port, agent, table: t }) => {
      const r = await send(port, agent, 'GET');
      assert.equal(r.status, 200);
      assert.equal(r.body, 'p1 GET 0');
      assert.equal(peers[0]!.requests, 1, 'the dead peer saw the request once');
      assert.equal(peers[1]!.requests, 1);
      const eps = t.get('c')!.endpoints as Endpoint[];
      assert.ok(eps[0]!.avoidUntil > 0, 'the endpoint is marked unavailable');
      assert.equal(eps[0]!.load.pending, 0);
      assert.equal(eps[1]!.load.pending, 0);
      // Round robin would pick the dead endpoint next: it is avoided for a while instead.
      for (let i = 0; i < 3; i++) assert.equal((await send(port, agent, 'GET')).status, 200);
      assert.equal(peers[0]!.requests, 1, 'the avoided endpoint got no more requests');
      assert.equal(peers[1]!.requests, 4);
    });
  });

  it('a peer that answers draining is failed over likewise, for any method', async () => {
    await withSetup(['draining', 'ok'], async ({ peers, port, agent, table: t }) => {
      const r = await send(port, agent, 'POST', Buffer.from('abc'));
      assert.equal(r.status, 200);
      assert.equal(r.body, 'p1 POST 3');
      assert.deepEqual(peers.map((p) => p.requests), [1, 1]);
      assert.ok((t.get('c')!.endpoints[0] as Endpoint).avoidUntil > 0, 'the draining endpoint is avoided');
    });
  });

  it('a POST whose whole body was kept (under 64 KiB) is resent with the same body', async () => {
    await withSetup(['dead', 'ok'], async ({ peers, port, agent }) => {
      const r = await send(port, agent, 'POST', Buffer.alloc(20_000, 0x61));
      assert.equal(r.status, 200);
      assert.equal(r.body, 'p1 POST 20000');
      assert.deepEqual(peers[0]!.bodies, [20_000]);
      assert.deepEqual(peers[1]!.bodies, [20_000]);
    });
  });

  it('a body larger than the replay limit is not resent: the 503 is passed on', async () => {
    await withSetup(['dead', 'ok'], async ({ peers, port, agent }) => {
      const r = await send(port, agent, 'POST', Buffer.alloc(200_000, 0x62));
      assert.equal(r.status, 503);
      assert.equal(r.reason, ProxyReason.AppUnavailable);
      assert.equal(peers[0]!.requests, 1);
      assert.equal(peers[1]!.requests, 0);
    });
  });

  it(`at most ${MAX_MESH_FAILOVERS} more endpoints are tried; then the 503 is passed on`, async () => {
    assert.equal(MAX_MESH_FAILOVERS, 2);
    await withSetup(['dead', 'dead', 'dead', 'dead'], async ({ peers, port, agent }) => {
      const r = await send(port, agent, 'DELETE');
      assert.equal(r.status, 503);
      assert.equal(r.reason, ProxyReason.AppUnavailable);
      assert.deepEqual(peers.map((p) => p.requests), [1, 1, 1, 0]);
    });
  });

  it('when every endpoint was tried, the client gets 503 app-unavailable', async () => {
    await withSetup(['dead', 'dead'], async ({ peers, port, agent }) => {
      const r = await send(port, agent, 'GET');
      assert.equal(r.status, 503);
      assert.equal(r.reason, ProxyReason.AppUnavailable);
      assert.deepEqual(peers.map((p) => p.requests), [1, 1]);
    });
  });

  it('a 502 upstream-reset from the peer is resent only for an idempotent method', async () => {
    await withSetup(['reset', 'ok'], async ({ port, agent }) => {
      const r = await send(port, agent, 'GET');
      assert.equal(r.status, 200);
      assert.equal(r.body, 'p1 GET 0');
    });
    await withSetup(['reset', 'ok'], async ({ peers, port, agent }) => {
      const r = await send(port, agent, 'POST', Buffer.from('x'));
      assert.equal(r.status, 502);
      assert.equal(r.reason, ProxyReason.UpstreamReset);
      assert.equal(peers[1]!.requests, 0);
    });
  });

  it("a 503 from the app itself (no trellis-reason) is the app's answer: passed on, not retried", async () => {
    await withSetup(['app503', 'ok'], async ({ peers, port, agent }) => {
      const r = await send(port, agent, 'GET');
      assert.equal(r.status, 503);
      assert.equal(r.reason, undefined);
      assert.equal(r.body, 'the app itself is overloaded\n');
      assert.equal(peers[1]!.requests, 0);
    });
  });
});

// ---- HTTP/2 and gRPC: the same endpoint stage behind the HTTP/2 codec --------------------------------

async function withH2Setup(kinds: Kind[], fn: (ctx: { peers: Peer[]; session: ClientHttp2Session; table: ClusterTable }) => Promise<void>): Promise<void> {
  const peers: Peer[] = [];
  for (let i = 0; i < kinds.length; i++) peers.push(await h2Peer(kinds[i]!, `p${i}`));
  const t = table('http2', peers.map((p) => p.port));
  const front = await proxy(new ClusterLeases(t, systemClock), { clusters: t, site: { cluster: 'c' } });
  const session = await client(front.port);
  try {
    await fn({ peers, session, table: t });
  } finally {
    session.close();
    await front.close();
    t.close();
    for (const p of peers) await p.close();
  }
}

const GET: OutgoingHttpHeaders = { ':method': 'GET', ':path': '/x' };
const POST: OutgoingHttpHeaders = { ':method': 'POST', ':path': '/x' };

describe('failover for HTTP/2 and gRPC after a mesh-made answer', () => {
  it('HTTP/2: a GET answered 503 app-unavailable is resent to another endpoint, which is then preferred', async () => {
    await withH2Setup(['dead', 'ok'], async ({ peers, session, table: t }) => {
      const r = await sendH2(session, GET);
      assert.equal(r.headers[':status'], 200);
      assert.equal(r.body.toString(), 'p1 GET 0');
      assert.deepEqual(peers.map((p) => p.requests), [1, 1]);
      const eps = t.get('c')!.endpoints as Endpoint[];
      assert.ok(eps[0]!.avoidUntil > 0, 'the endpoint is marked unavailable');
      assert.deepEqual(eps.map((e) => e.load.pending), [0, 0]);
      for (let i = 0; i < 3; i++) assert.equal((await sendH2(session, GET)).headers[':status'], 200);
      assert.equal(peers[0]!.requests, 1, 'the avoided endpoint got no more requests');
      assert.equal(peers[1]!.requests, 4);
    });
  });

  it('gRPC: a trailers-only UNAVAILABLE with trellis-reason app-unavailable is resent to another endpoint', async () => {
    await withH2Setup(['dead', 'ok'], async ({ peers, session, table: t }) => {
      const r = await sendH2(session, GRPC_HEAD, grpcFrame('ping'));
      assert.equal(r.headers[':status'], 200);
      assert.equal(r.trailers?.['grpc-status'], '0');
      assert.equal(r.body.subarray(5).toString(), 'p1');
      assert.deepEqual(peers.map((p) => p.requests), [1, 1]);
      assert.deepEqual(peers[1]!.bodies, [grpcFrame('ping').length], 'the same message went to the other endpoint');
      assert.ok((t.get('c')!.endpoints[0] as Endpoint).avoidUntil > 0);
    });
  });

  it('HTTP/2 and gRPC: a peer that answers draining is failed over likewise', async () => {
    await withH2Setup(['draining', 'ok', 'draining', 'ok'], async ({ peers, session }) => {
      const h = await sendH2(session, POST, 'abc');
      assert.equal(h.headers[':status'], 200);
      assert.equal(h.body.toString(), 'p1 POST 3');
      const g = await sendH2(session, GRPC_HEAD, grpcFrame('ping'));
      assert.equal(g.trailers?.['grpc-status'], '0');
      assert.equal(g.body.subarray(5).toString(), 'p3');
      assert.deepEqual(peers.map((p) => p.requests), [1, 1, 1, 1]);
    });
  });

  it('HTTP/2: a POST whose whole body was kept is resent with the same body; a larger one is not', async () => {
    await withH2Setup(['dead', 'ok'], async ({ peers, session }) => {
      const r = await sendH2(session, POST, Buffer.alloc(20_000, 0x61));
      assert.equal(r.headers[':status'], 200);
      assert.equal(r.body.toString(), 'p1 POST 20000');
      assert.deepEqual(peers.map((p) => p.bodies), [[20_000], [20_000]]);
    });
    await withH2Setup(['dead', 'ok'], async ({ peers, session }) => {
      const r = await sendH2(session, POST, Buffer.alloc(200_000, 0x62));
      assert.equal(r.headers[':status'], 503);
      assert.equal(r.headers[REASON_HEADER], ProxyReason.AppUnavailable);
      assert.deepEqual(peers.map((p) => p.requests), [1, 0]);
    });
  });

  it(`gRPC and HTTP/2: at most ${MAX_MESH_FAILOVERS} more endpoints are tried; then the answer is passed on`, async () => {
    await withH2Setup(['dead', 'dead', 'dead', 'dead'], async ({ peers, session }) => {
      const g = await sendH2(session, GRPC_HEAD, grpcFrame('ping'));
      assert.equal(g.headOnly, true);
      assert.equal(g.headers['grpc-status'], '14');
      assert.equal(g.headers[REASON_HEADER], ProxyReason.AppUnavailable);
      assert.deepEqual(peers.map((p) => p.requests), [1, 1, 1, 0]);
    });
    await withH2Setup(['dead', 'dead', 'dead', 'dead'], async ({ peers, session }) => {
      const h = await sendH2(session, { ':method': 'DELETE', ':path': '/x' });
      assert.equal(h.headers[':status'], 503);
      assert.equal(h.headers[REASON_HEADER], ProxyReason.AppUnavailable);
      assert.deepEqual(peers.map((p) => p.requests), [1, 1, 1, 0]);
    });
  });

  it('gRPC: an UNAVAILABLE from the app itself (no trellis-reason) is passed on, not resent', async () => {
    await withH2Setup(['app503', 'ok'], async ({ peers, session }) => {
      const g = await sendH2(session, GRPC_HEAD, grpcFrame('ping'));
      assert.equal(g.headers['grpc-status'], '14');
      assert.equal(g.headers[REASON_HEADER], undefined);
      assert.equal(g.headers['grpc-message'], 'from upstream');
      assert.deepEqual(peers.map((p) => p.requests), [1, 0]);
    });
  });

  it('an upstream-reset from the peer is resent for an idempotent HTTP/2 request, never for gRPC', async () => {
    await withH2Setup(['reset', 'ok'], async ({ session }) => {
      const r = await sendH2(session, GET);
      assert.equal(r.headers[':status'], 200);
      assert.equal(r.body.toString(), 'p1 GET 0');
    });
    await withH2Setup(['reset', 'ok'], async ({ peers, session }) => {
      const g = await sendH2(session, GRPC_HEAD, grpcFrame('ping'));
      assert.equal(g.headers['grpc-status'], '14');
      assert.equal(g.headers[REASON_HEADER], ProxyReason.UpstreamReset);
      assert.deepEqual(peers.map((p) => p.requests), [1, 0]);
    });
  });
});
