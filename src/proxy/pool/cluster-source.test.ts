import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { OutlierDetectionConfig } from '../../api/snapshot.js';
import { serverTlsOptions } from '../../identity/tls.js';
import { systemClock } from '../clock/clock.js';
import { ClusterTable } from '../cluster/cluster-table.js';
import type { Endpoint } from '../cluster/endpoint.js';
import { GRPC_HEAD, client, grpcFrame, h2Server, proxy, until } from '../http2/test-helpers.js';
import { MeshTls } from '../mtls/mesh-tls.js';
import type { Lease } from '../pipeline/lease.js';
import type { LocalReply } from '../pipeline/service.js';
import { cluster, endpoint, id, testPki } from '../testing/fixtures.js';
import type { TestPki } from '../testing/fixtures.js';
import { RecordingLeases, tcpTable, testExchange } from '../testing/pool-harness.js';
import { ClusterLeases } from './cluster-source.js';
import { mtlsConnector } from './connect.js';

// ClusterLeases, the outbound lease source: connect failover over mTLS, the failures it
// answers with, endpoints kept across snapshots, and what a lease reports back to outlier
// detection when the client leaves.

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

/** One HTTP/1 lease for an exchange to cluster `name`, as the endpoint stage asks for it. */
function acquire(t: ClusterTable, name: string): Promise<{ failure: LocalReply | null; lease: Lease | null }> {
  const source = new ClusterLeases(t, systemClock);
  const ex = testExchange({ cluster: name });
  return new Promise((resolve) => source.acquire(ex, { exclude: undefined, fresh: false }, (failure, lease) => resolve({ failure, lease })));
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
  lease.release(true, false); // later calls are ignored
  assert.equal(eps[1]?.load.pending, 0);
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

test('a cluster with no endpoints gives 503 no-endpoints; unknown cluster 503 unknown-cluster (acquire and admit)', async () => {
  const t = table();
  t.apply([cluster('empty', 'http', [])]);
  assert.equal((await acquire(t, 'empty')).failure?.reason, 'no-endpoints');
  assert.equal((await acquire(t, 'nope')).failure?.reason, 'unknown-cluster');
  const refused = new ClusterLeases(t, systemClock).admit(testExchange({ cluster: 'nope' }));
  assert.equal((refused as LocalReply).reason, 'unknown-cluster');
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

describe('a client that cancels a gRPC stream is never an endpoint failure', () => {
  /** Ejects an endpoint on its first 5xx, reset or failing grpc-status. */
  const EJECT_ON_FIRST: OutlierDetectionConfig = { consecutive5xx: 1, consecutiveConnectFailures: 0, intervalMs: 60_000, baseEjectionMs: 60_000, maxEjectionPercent: 100 };

  it('N streams cancelled before and after the response head: no ejection, every lease released with failed=false', async () => {
    const upstreamStreams: http2.ServerHttp2Stream[] = [];
    const app = await h2Server((stream, headers) => {
      upstreamStreams.push(stream);
      stream.resume();
      if (headers[':path'] === '/test.Echo/Head') stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      else if (headers[':path'] === '/test.Echo/Reset') stream.once('end', () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
      // anything else hangs: no head at all
    });
    // Two endpoints (one app, two identities) so that ejecting one is allowed.
    const t = tcpTable([
      { ...cluster('c', 'grpc', [endpoint(app.port, 'spiffe://t/ns/default/sa/a', 0), endpoint(app.port, 'spiffe://t/ns/default/sa/b', 1)], 'round-robin'), outlierDetection: EJECT_ON_FIRST },
    ]);
    const leases = new RecordingLeases(new ClusterLeases(t, systemClock));
    const front = await proxy(leases, { clusters: t, site: { cluster: 'c' } });
    const session = await client(front.port);
    const c = t.get('c')!;
    try {
      const N = 6;
      for (const path of ['/test.Echo/Hang', '/test.Echo/Head']) {
        const before = upstreamStreams.length;
        const releasedBefore = leases.releases.length;
        let heads = 0;
        const reqs = Array.from({ length: N }, () => {
          const req = session.request({ ...GRPC_HEAD, ':path': path });
          req.on('error', () => {});
          req.once('response', () => heads++);
          req.end(grpcFrame('ping'));
          return req;
        });
        await until(() => upstreamStreams.length === before + N, `${N} streams at the upstream (${path})`);
        if (path === '/test.Echo/Head') await until(() => heads === N, 'every response head at the client');
        for (const r of reqs) r.close(http2.constants.NGHTTP2_CANCEL);
        await until(() => leases.releases.length === releasedBefore + N, `${N} releases (${path})`);
        await until(() => upstreamStreams.slice(before).every((s) => s.closed), 'the upstream streams to be reset');
        assert.deepEqual(
          leases.releases.slice(releasedBefore).map((r) => r.failed),
          Array.from({ length: N }, () => false),
          `client cancels (${path}) are not endpoint failures`,
        );
        assert.deepEqual(c.ejected(), [], `no endpoint ejected after ${N} cancels (${path})`);
        assert.deepEqual(c.endpoints.map((e) => e.outlier.consecutive5xx), [0, 0]);
      }
      await until(() => front.records.length === 2 * N, 'every record');
      assert.equal(leases.outstanding, 0);
      assert.deepEqual(c.endpoints.map((e) => e.load.pending), [0, 0], 'no pending count is held for a cancelled stream');
      assert.equal(c.limits.activeRequests, 0, 'every permit was given back');

      // The control: an upstream that resets a stream is a failure, and ejects its endpoint.
      const reset = session.request({ ...GRPC_HEAD, ':path': '/test.Echo/Reset' });
      reset.on('error', () => {});
      reset.end(grpcFrame('ping'));
      await until(() => leases.releases.length === 2 * N + 1, 'the reset stream’s release');
      assert.equal(leases.releases.at(-1)?.failed, true);
      assert.equal(c.ejected().length, 1, 'a real failure still ejects');
    } finally {
      session.close();
      await front.close();
      t.close();
      await app.close();
    }
  });
});
