import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { serverTlsOptions } from '../../identity/tls.js';
import { ClusterTable } from '../cluster/cluster-table.js';
import type { Endpoint } from '../cluster/endpoint.js';
import { MeshTls } from '../mtls/mesh-tls.js';
import { cluster, endpoint, id, testPki } from '../testing/fixtures.js';
import type { TestPki } from '../testing/fixtures.js';
import type { UpstreamFailure, UpstreamLease } from '../http1/types.js';
import { ClusterHttp1Upstream } from './cluster-upstream.js';
import { mtlsConnector } from './connect.js';

let pki: TestPki;
let meshTls: MeshTls;
let peer: tls.Server; // a peer proxy presenting id('backend')
let peerPort: number;
let deadPort: number;
let accepted = 0;

before(async () => {
  pki = await testPki();
  meshTls = new MeshTls(await pki.credentials(id('frontend')), pki.ca.trustDomain);
  const backend = await pki.issue(id('backend'));
  peer = tls.createServer(serverTlsOptions(backend, pki.ca.trustBundlePem(), ['http/1.1', 'h2', 'trellis-tcp']), (s) => {
    accepted++;
    s.on('error', () => {});
  });
  await new Promise<void>((r) => peer.listen(0, '127.0.0.1', r));
  peerPort = (peer.address() as AddressInfo).port;
  // a port with nothing listening: bind, note, close
  const tmp = net.createServer();
  await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', r));
  deadPort = (tmp.address() as AddressInfo).port;
  await new Promise((r) => tmp.close(r));
});

after(async () => {
  peer.close();
  await pki.cleanup();
});

function table(): ClusterTable {
  return new ClusterTable({
    connector: (ec, alpn, timeoutMs) => mtlsConnector({ host: ec.host, port: ec.port, identity: ec.identity, alpn, timeoutMs }, meshTls),
    // round robin walks the list in order, so the dead endpoint is always tried first
  });
}

function acquire(t: ClusterTable, name: string): Promise<{ failure: UpstreamFailure | null; lease: UpstreamLease | null }> {
  const up = new ClusterHttp1Upstream(t, name);
  return new Promise((resolve) =>
    up.acquire({ method: 'GET', target: '/', host: undefined, headers: [], upgrade: false }, (failure, lease) => resolve({ failure, lease })),
  );
}

test('connect failure fails over to the next endpoint', async () => {
  const t = table();
  t.apply([cluster('default/backend:http', 'http', [endpoint(deadPort, id('backend')), endpoint(peerPort, id('backend'))], 'round-robin')]);
  const { failure, lease } = await acquire(t, 'default/backend:http');
  assert.equal(failure, null);
  assert.ok(lease !== null);
  assert.equal(lease.peer, id('backend'));
  const eps = t.get('default/backend:http')?.endpoints as Endpoint[];
  assert.equal(eps[0]?.load.pending, 0, 'failed endpoint holds no pending count');
  assert.equal(eps[1]?.load.pending, 1, 'leased endpoint counts the exchange');
  lease.release(true, false);
  assert.equal(eps[1]?.load.pending, 0);
  assert.equal(eps[1]?.http1().idleCount, 1, 'reusable socket went back to the pool');
  const again = await acquire(t, 'default/backend:http');
  // round robin now points at the dead one again, fails over to the pooled socket
  assert.equal(again.lease?.reused, true);
  again.lease?.release(false, false);
  t.close();
});

test('every endpoint refusing gives 503 connect-failed, each tried once', async () => {
  const t = table();
  t.apply([cluster('c', 'http', [endpoint(deadPort, id('backend'))])]);
  const { failure } = await acquire(t, 'c');
  assert.equal(failure?.status, 503);
  assert.equal(failure?.reason, 'connect-failed');
  t.close();
});

test('a peer with the wrong identity is refused with peer-refused', async () => {
  const t = table();
  const before = meshTls.counters.tlsFailures;
  t.apply([cluster('c', 'http', [endpoint(peerPort, id('payments'))])]);
  const { failure, lease } = await acquire(t, 'c');
  assert.equal(lease, null);
  assert.equal(failure?.status, 503);
  assert.equal(failure?.reason, 'peer-refused');
  assert.ok(meshTls.counters.tlsFailures > before);
  t.close();
});

test('a cluster with no endpoints gives 503 no-endpoints; unknown cluster 503 unknown-cluster', async () => {
  const t = table();
  t.apply([cluster('empty', 'http', [])]);
  assert.equal((await acquire(t, 'empty')).failure?.reason, 'no-endpoints');
  assert.equal((await acquire(t, 'nope')).failure?.reason, 'unknown-cluster');
  t.close();
});

test('applying a snapshot keeps surviving endpoints (pools, EWMA) and closes removed ones', async () => {
  const t = table();
  const a = endpoint(peerPort, id('backend'), 0);
  const b = { ...endpoint(deadPort, id('backend'), 1) };
  t.apply([cluster('c', 'http', [a, b])]);
  const [ea, eb] = t.get('c')?.endpoints as Endpoint[];
  ea?.load.rtt.observe(42, 0);
  t.apply([cluster('c', 'http', [a])]);
  const after = t.get('c')?.endpoints as Endpoint[];
  assert.equal(after.length, 1);
  assert.equal(after[0], ea, 'same Endpoint object kept');
  assert.equal(eb?.isRemoved, true);
  assert.equal(ea?.isRemoved, false);
  t.close();
  assert.ok(accepted >= 0);
});
