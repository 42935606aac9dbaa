/** Consistent hashing through ClusterLeases: the key from a header or a cookie the proxy sets. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { ClusterConfig, HashOnConfig } from '../../api/snapshot.js';
import { systemClock } from '../clock/clock.js';
import type { ClusterTable } from '../cluster/cluster-table.js';
import type { Lease } from '../pipeline/lease.js';
import { cluster, endpoint } from '../testing/fixtures.js';
import { tcpTable, testExchange } from '../testing/pool-harness.js';
import { ClusterLeases } from './cluster-source.js';

let server: net.Server;
let port: number;
const sockets = new Set<net.Socket>();

before(async () => {
  server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

after(() => {
  for (const s of sockets) s.destroy();
  server.close();
});

const NAME = 'default/cart:http';

function setup(hashOn: HashOnConfig, random: () => number): { t: ClusterTable; up: ClusterLeases } {
  // five endpoints (distinct identities, one listening socket): the lease's peer tells them apart
  const eps = Array.from({ length: 5 }, (_, i) => endpoint(port, `spiffe://t/ns/default/sa/e${i}`, i));
  const c: ClusterConfig = { ...cluster(NAME, 'http', eps, 'consistent-hash'), hashOn };
  const t = tcpTable([c], { random, now: () => 0 });
  return { t, up: new ClusterLeases(t, systemClock) };
}

function lease(up: ClusterLeases, headers: string[]): Promise<Lease> {
  const ex = testExchange({ cluster: NAME, headers: [...headers, 'host', 'cart'] });
  return new Promise((resolve, reject) =>
    up.acquire(ex, { exclude: undefined, fresh: false }, (f, l) => (l !== null ? resolve(l) : reject(new Error(f?.message)))),
  );
}

test('hash on a header: one user always reaches one endpoint; no header means a random one', async () => {
  let r = 0.05;
  const { t, up } = setup({ header: 'x-user' }, () => (r = (r + 0.37) % 1));
  try {
    const seen = new Map<string, Set<string>>();
    for (let round = 0; round < 3; round++) {
      for (const user of ['ann', 'bob', 'cy', 'dee', 'eve', 'fay']) {
        const l = await lease(up, ['x-user', user]);
        assert.equal(l.responseHeaders, undefined);
        if (!seen.has(user)) seen.set(user, new Set());
        seen.get(user)!.add(l.peer);
        l.release(true, false);
      }
    }
    for (const [user, peers] of seen) assert.equal(peers.size, 1, `${user} stuck to one endpoint`);
    const randomPeers = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const l = await lease(up, []);
      randomPeers.add(l.peer);
      l.release(true, false);
    }
    assert.ok(randomPeers.size > 1, 'without the key, requests spread');
  } finally {
    t.close();
  }
});

test('hash on a cookie: set on the response when absent, then honoured', async () => {
  let r = 0.2;
  const { t, up } = setup({ cookie: { name: 'trellis-affinity', ttlMs: 60_000 } }, () => (r = (r + 0.29) % 1));
  try {
    const first = await lease(up, ['accept', '*/*']);
    const set = first.responseHeaders;
    assert.equal(set?.[0], 'set-cookie');
    const m = /^trellis-affinity=([0-9a-f]{16}); Path=\/; HttpOnly; Max-Age=60$/.exec(set?.[1] ?? '');
    assert.ok(m !== null, `cookie ${set?.[1]}`);
    first.release(true, false);
    for (let i = 0; i < 5; i++) {
      const again = await lease(up, ['cookie', `a=b; trellis-affinity=${m[1]}`]);
      assert.equal(again.responseHeaders, undefined, 'no new cookie once the client has one');
      assert.equal(again.peer, first.peer, 'the cookie keeps the client on its endpoint');
      again.release(true, false);
    }
  } finally {
    t.close();
  }
});
