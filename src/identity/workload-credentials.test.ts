import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkloadCredentials } from './workload-credentials.js';

const creds = (notAfter: number) => ({ keyPem: 'k', certChainPem: ['c'], notAfter: new Date(notAfter), serial: '01' });

test('rotationDelayMs is half the remaining lifetime, spread by the injected random', () => {
  const mid = new WorkloadCredentials({ random: () => 0.5 });
  assert.equal(mid.rotationDelayMs(0), 0, 'no credentials: rotate now');
  mid.update(creds(10_000), ['b']);
  assert.equal(mid.rotationDelayMs(0), 5000);
  assert.equal(mid.rotationDelayMs(4000), 3000);
  assert.equal(mid.rotationDelayMs(20_000), 0);
  const low = new WorkloadCredentials({ random: () => 0 });
  low.update(creds(10_000), ['b']);
  assert.equal(low.rotationDelayMs(0), 4500);
  const high = new WorkloadCredentials({ random: () => 0.999999 });
  high.update(creds(10_000), ['b']);
  assert.ok(high.rotationDelayMs(0) <= 5500 && high.rotationDelayMs(0) > 5400);
});

test('update emits rotated with the new credentials and bundle', () => {
  const wc = new WorkloadCredentials();
  const seen: string[] = [];
  wc.on('rotated', (c, b) => seen.push(`${c.serial}:${b.join(',')}`));
  wc.update(creds(1000), ['r1']);
  wc.updateTrustBundle(['r1', 'r2']);
  assert.deepEqual(seen, ['01:r1', '01:r1,r2']);
  assert.equal(wc.current?.serial, '01');
  assert.deepEqual(wc.trustBundlePem, ['r1', 'r2']);
  assert.equal(wc.expired(999), false);
  assert.equal(wc.expired(1000), true);
});
