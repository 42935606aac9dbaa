/**
 * The CA shared by control-plane replicas over a real etcd: sealed in etcd with the
 * operator's key (nothing in etcd opens without the key file), the same CA for every replica
 * (also when two start at once on an empty etcd), refused with another key; or loaded from
 * files, refused when a replica's files hold another CA.
 */
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { generateKeyAndCsr } from '../../src/identity/keys.js';
import { unseal } from '../../src/identity/seal.js';
import { loadOrCreateSharedCa, loadOrCreateSharedSecret } from '../../src/control/store/etcd/ca-vault.js';
import { EtcdStore } from '../../src/control/store/etcd/etcd-store.js';
import { tempDir } from '../../src/control/test-support.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';

const TD = 'ca.trellis.test';
let etcd: EtcdCluster;

before(async () => {
  etcd = await startEtcd({ members: 1 });
});
after(async () => {
  await etcd?.stop();
});

const open = (prefix: string): Promise<EtcdStore> => EtcdStore.open({ hosts: etcd.endpoints, prefix });
const newPrefix = (): string => `/ca-${randomBytes(4).toString('hex')}/`;

test('the CA key is sealed in etcd: nothing stored there reveals it, and replicas with the key file share one CA', async () => {
  const prefix = newPrefix();
  const sealKey = randomBytes(32);
  const [a, b] = await Promise.all([open(prefix), open(prefix)]);
  try {
    // Both start at once on an empty etcd: one creates, both end with the same root.
    const [ca1, ca2] = await Promise.all([
      loadOrCreateSharedCa(a, { kind: 'sealed', sealKey }, TD, Date.now),
      loadOrCreateSharedCa(b, { kind: 'sealed', sealKey }, TD, Date.now),
    ]);
    assert.deepEqual(ca1.ca.trustBundlePem(), ca2.ca.trustBundlePem());

    // What a reader of etcd gets: a certificate, and a key only in sealed form.
    const all = await a.client.getAll().prefix(prefix).strings();
    const record = JSON.parse(all[`${prefix}ca/root`] as string) as { certPem: string; sealedKey: string };
    for (const [k, v] of Object.entries(all)) assert.doesNotMatch(v, /PRIVATE KEY/, `${k} holds no plain key`);
    assert.match(record.sealedKey, /^v1\./);
    assert.throws(() => unseal(randomBytes(32), record.sealedKey, 'any'), /does not open/);
    assert.throws(() => unseal(sealKey, record.sealedKey, 'wrong context'), /does not open/, 'not even the raw key file opens it without the derivation');

    // A certificate signed by one replica verifies against the other's trust bundle.
    const { csrPem } = await generateKeyAndCsr(`spiffe://${TD}/ns/default/sa/web`);
    const issued = await ca2.ca.signCsr(csrPem, `spiffe://${TD}/ns/default/sa/web`, 60_000);
    const root = new X509Certificate(ca1.ca.trustBundlePem()[0] as string);
    assert.ok(new X509Certificate(issued.certChainPem[0] as string).verify(root.publicKey));

    // The shared agent token: sealed as well, the same for both.
    const [t1, t2] = await Promise.all([
      loadOrCreateSharedSecret(a, 'agent-token', ca1.secretsKey, () => 'token-from-a'),
      loadOrCreateSharedSecret(b, 'agent-token', ca2.secretsKey, () => 'token-from-b'),
    ]);
    assert.equal(t1, t2);
    assert.doesNotMatch((await a.client.get(`${prefix}secrets/agent-token`).string()) ?? '', new RegExp(t1));
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

test('a replica with another seal key, or another trust domain, is refused', async () => {
  const prefix = newPrefix();
  const s = await open(prefix);
  try {
    await loadOrCreateSharedCa(s, { kind: 'sealed', sealKey: randomBytes(32) }, TD, Date.now);
    await assert.rejects(loadOrCreateSharedCa(s, { kind: 'sealed', sealKey: randomBytes(32) }, TD, Date.now), /does not open with this seal key file/);
    await assert.rejects(loadOrCreateSharedCa(s, { kind: 'sealed', sealKey: randomBytes(32) }, 'other.td', Date.now), /belongs to trust domain "ca.trellis.test"/);
  } finally {
    await s.close();
  }
});

test('CA files: replicas with copies of the same files share it; a replica with another CA is refused', async () => {
  const prefix = newPrefix();
  const t = await tempDir();
  const s = await open(prefix);
  try {
    const first = await loadOrCreateSharedCa(s, { kind: 'dir', dir: join(t.dir, 'ca') }, TD, Date.now);
    const again = await loadOrCreateSharedCa(s, { kind: 'dir', dir: join(t.dir, 'ca') }, TD, Date.now);
    assert.deepEqual(first.ca.trustBundlePem(), again.ca.trustBundlePem());
    assert.deepEqual(first.secretsKey, again.secretsKey);
    await assert.rejects(loadOrCreateSharedCa(s, { kind: 'dir', dir: join(t.dir, 'other-ca') }, TD, Date.now), /not the one the other replicas use/);
    await assert.rejects(loadOrCreateSharedCa(s, { kind: 'sealed', sealKey: randomBytes(32) }, TD, Date.now), /kept in files by the other replicas/);
  } finally {
    await s.close();
    await t.cleanup();
  }
});
