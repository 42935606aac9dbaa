/**
 * LeaseRenewer against a real etcd member, reached directly and through TCP relays that go
 * silent (a member cut off the network) or refuse (a member killed).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { LeaseRenewer } from '../../src/control/store/etcd/lease-renewer.js';
import { startEtcd, tcpRelay, type EtcdCluster, type TcpRelay } from '../helpers/etcd.js';

let etcd: EtcdCluster;
let admin: Etcd3;

before(async () => {
  etcd = await startEtcd({ members: 1 });
  admin = new Etcd3({ hosts: etcd.endpoints });
});

after(async () => {
  admin?.close();
  await etcd?.stop();
});

/** A renewer over these URLs with a clock the test moves. */
function renewer(urls: string[], clock: { now: number }, said: string[] = []): LeaseRenewer {
  return new LeaseRenewer(urls, { clientFor: (url) => new Etcd3({ hosts: [url] }), attemptTimeoutMs: 500, renewTimeoutMs: 1500, suspectForMs: 30_000, now: () => clock.now, log: (msg) => said.push(msg) });
}

async function relays(n: number): Promise<TcpRelay[]> {
  return Promise.all(Array.from({ length: n }, () => tcpRelay(etcd.members[0]!.clientPort)));
}

test('a silent member is passed over and asked last until its suspicion ends; a refused one is passed over too', async () => {
  const [silent, refused] = await relays(2);
  const urls = [`http://${silent!.address}`, `http://${refused!.address}`, etcd.endpoints[0]!];
  const clock = { now: 1_000 };
  const said: string[] = [];
  const r = renewer(urls, clock, said);
  try {
    const lease = admin.lease(60, { autoKeepAlive: false });
    const id = await lease.grant();
    silent!.stall();
    refused!.cut();
    assert.equal(await r.renew(id), true);
    assert.deepEqual(r.orderOfUrls(), [urls[2], urls[0], urls[1]], 'the one that answered first, then the suspects, the earliest suspect first');
    assert.deepEqual(said, [0, 1].map((i) => `etcd member ${urls[i]} did not renew a lease in time; asking it last for 30 s`));
    // The next renewal goes to the member that answered; nothing more is said.
    assert.equal(await r.renew(id), true);
    assert.equal(said.length, 2);
    // Suspicion ends: they are asked in their given order again.
    clock.now += 30_001;
    assert.deepEqual(r.orderOfUrls(), urls);
    await lease.revoke();
  } finally {
    r.close();
    await Promise.all([silent!.close(), refused!.close()]);
  }
});

test('a member that is only slow still counts: it stays in the race while the next is asked, and its late answer renews', async () => {
  const [silentA, slow, silentB] = await relays(3);
  slow!.slow(400);
  silentA!.stall();
  silentB!.stall();
  const urls = [silentA, slow, silentB].map((x) => `http://${x!.address}`);
  const r = new LeaseRenewer(urls, { clientFor: (url) => new Etcd3({ hosts: [url] }), attemptTimeoutMs: 200, renewTimeoutMs: 10_000 });
  try {
    const lease = admin.lease(60, { autoKeepAlive: false });
    const id = await lease.grant();
    // Each gets 200 ms in turn; the slow member's connection and answer take several 400 ms
    // trips, so all three are asked and the last never answers: the slow one's late answer is
    // the renewal, and having answered it is no longer suspect (both silent ones are).
    assert.equal(await r.renew(id), true);
    assert.deepEqual(r.orderOfUrls(), [urls[1], urls[0], urls[2]]);
    await lease.revoke();
  } finally {
    r.close();
    await Promise.all([silentA!.close(), slow!.close(), silentB!.close()]);
  }
});

test('a lease etcd no longer knows renews to false; with no member answering the renewal rejects, naming each', async () => {
  const [a, b] = await relays(2);
  const urls = [`http://${a!.address}`, `http://${b!.address}`];
  const r = renewer(urls, { now: 0 });
  try {
    const lease = admin.lease(60, { autoKeepAlive: false });
    const id = await lease.grant();
    await lease.revoke();
    assert.equal(await r.renew(id), false);
    a!.stall();
    b!.cut();
    await assert.rejects(r.renew(id), (err: Error) => {
      assert.match(err.message, new RegExp(`no etcd member renewed lease ${id}`));
      assert.match(err.message, new RegExp(`${a!.address}: no keepalive answer in 1500 ms`));
      assert.ok(err.message.includes(b!.address), err.message);
      return true;
    });
  } finally {
    r.close();
    await Promise.all([a!.close(), b!.close()]);
  }
});
