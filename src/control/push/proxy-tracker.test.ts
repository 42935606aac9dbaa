import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SnapshotCache } from '../compiler/snapshot-cache.js';
import { runChecks } from '../check/check.js';
import { ProxyTracker } from './proxy-tracker.js';
import type { ProxyStatusReport } from '../../api/push.js';

const T = Date.UTC(2030, 0, 1, 12, 0, 0);
const status = (notAfter: number, serial: string): ProxyStatusReport => ({
  certNotAfter: new Date(notAfter).toISOString(),
  certSerial: serial,
  tlsHandshakes: 0,
  tlsFailures: 0,
  peersVerified: 0,
  adminUrl: '',
});

test('the certificate the control plane just issued wins over a status report a rotation behind', () => {
  const t = new ProxyTracker();
  const s = t.ensure('default/b/0', 'spiffe://td/ns/default/sa/b');
  s.connected = true;
  // The proxy's last report (every 10 s) still names the certificate before the rotation.
  s.status = status(T - 1000, 'AA01');
  t.issued('default/b/0', 'spiffe://td/ns/default/sa/b', new Date(T + 9000), 'bb02');
  assert.deepEqual(ProxyTracker.cert(s), { notAfter: new Date(T + 9000).toISOString(), serial: 'BB02' });
  // Its report of the same certificate changes nothing, not even the serial's case.
  s.status = status(T + 9000, 'BB02');
  assert.deepEqual(ProxyTracker.cert(s), { notAfter: new Date(T + 9000).toISOString(), serial: 'BB02' });
  // A report newer than the record (the control plane restarted and issued nothing since) wins.
  const fresh = new ProxyTracker().ensure('default/b/0', 'spiffe://td/ns/default/sa/b');
  fresh.status = status(T + 5000, 'CC03');
  assert.deepEqual(ProxyTracker.cert(fresh), { notAfter: new Date(T + 5000).toISOString(), serial: 'CC03' });
  assert.deepEqual(ProxyTracker.cert(new ProxyTracker().ensure('x', 'y')), { notAfter: null, serial: null });
});

test('check: "certificates valid" reads the certificate just issued, not the lagging report', async () => {
  const t = new ProxyTracker();
  const s = t.ensure('default/b/0', 'spiffe://td/ns/default/sa/b');
  s.connected = true;
  s.status = status(T - 1000, 'AA01');
  const run = () =>
    runChecks({
      nodes: [],
      endpoints: [],
      tracker: t,
      snapshots: { get: () => undefined } as unknown as SnapshotCache,
      certTtlMs: 10_000,
      now: T,
      creds: { keyPem: '', certChainPem: [] },
      trustBundlePem: [],
    });
  const stale = (await run()).checks.find((c) => c.name === 'certificates valid');
  assert.equal(stale?.ok, false, 'the test can fail: with only the stale report, check says expired');
  assert.match(stale?.detail ?? '', /expired/);
  t.issued('default/b/0', 'spiffe://td/ns/default/sa/b', new Date(T + 9000), 'bb02');
  const now = (await run()).checks.find((c) => c.name === 'certificates valid');
  assert.equal(now?.ok, true, now?.detail);
});
