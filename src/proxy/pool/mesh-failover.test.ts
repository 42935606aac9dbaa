/**
 * Failover after a mesh-made 503 (the peer's inbound proxy could not reach its app), over real
 * sockets: the HTTP/1 forwarder in front of a ClusterHttp1Upstream whose endpoints are fake
 * "peer proxies" (plain TCP here; the mTLS connector is tested in cluster-upstream.test.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { ProxyReason, REASON_HEADER } from '../../errors.js';
import { ClusterTable } from '../cluster/cluster-table.js';
import type { Endpoint } from '../cluster/endpoint.js';
import { closeServer, listen, startProxy } from '../http1/test-harness.js';
import { cluster, endpoint } from '../testing/fixtures.js';
import { ClusterHttp1Upstream } from './cluster-upstream.js';
import { tcpConnector } from './connect.js';

interface Peer {
  server: http.Server;
  port: number;
  requests: number;
  bodies: number[];
}

/** A fake peer proxy: `dead` answers like an inbound proxy whose app refused (503 app-unavailable). */
type Kind = 'ok' | 'dead' | 'app503' | 'reset';

async function peer(kind: Kind, name: string): Promise<Peer> {
  const p: Peer = { server: http.createServer(), port: 0, requests: 0, bodies: [] };
  p.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    p.requests++;
    let n = 0;
    req.on('data', (d: Buffer) => (n += d.length));
    req.on('end', () => {
      p.bodies.push(n);
      if (kind === 'ok') {
        res.end(`${name} ${req.method} ${n}`);
      } else if (kind === 'reset') {
        // like an inbound proxy whose app closed the connection without answering (killed)
        res.writeHead(502, { [REASON_HEADER]: ProxyReason.UpstreamReset, 'content-type': 'text/plain' });
        res.end('upstream closed the connection before a complete response\n');
      } else if (kind === 'dead') {
        res.writeHead(503, { [REASON_HEADER]: ProxyReason.AppUnavailable, 'content-type': 'text/plain' });
        res.end('app 127.0.0.1:1: connect ECONNREFUSED\n');
      } else {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('the app itself is overloaded\n');
      }
    });
  });
  p.port = await listen(p.server);
  return p;
}

function table(ports: number[]): ClusterTable {
  const t = new ClusterTable({ connector: (ec, _alpn, timeoutMs) => tcpConnector(ec.host, ec.port, timeoutMs) });
  // round robin walks the list in order: the first endpoint is tried first
  t.apply([cluster('c', 'http', ports.map((p, i) => endpoint(p, `spiffe://t/ns/default/sa/p${i}`, i)), 'round-robin')]);
  return t;
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
  for (let i = 0; i < kinds.length; i++) peers.push(await peer(kinds[i]!, `p${i}`));
  const t = table(peers.map((p) => p.port));
  const proxy = await startProxy(new ClusterHttp1Upstream(t, 'c'));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await fn({ peers, port: proxy.port, agent, table: t });
  } finally {
    agent.destroy();
    await proxy.close();
    t.close();
    for (const p of peers) await closeServer(p.server);
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

  it('at most two more endpoints are tried; then the 503 is passed on', async () => {
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
