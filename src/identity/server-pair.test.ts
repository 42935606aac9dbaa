import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testWebCa } from '../proxy/testing/web-certs.js';
import type { TestWebCa } from '../proxy/testing/web-certs.js';
import { checkServerPair, readServerPair } from './server-pair.js';

// The one checker behind `trellis up`'s validation and the ingress's reloads.

let ca: TestWebCa;
let dir: string;
let good: { certPem: string; keyPem: string };
let other: { certPem: string; keyPem: string };

before(async () => {
  ca = await testWebCa();
  dir = await mkdtemp(join(tmpdir(), 'trellis-pair-'));
  good = await ca.issue(['shop.example.com', '*.shop.example.com']);
  other = await ca.issue(['other.example.com']);
});

after(() => rm(dir, { recursive: true, force: true }));

const now = (): number => Date.now();

test('a good pair: its DNS names and validity', () => {
  const r = checkServerPair(good.certPem, good.keyPem, 'c.pem', 'k.pem', now());
  assert.ok(r.ok);
  assert.deepEqual(r.pair.dnsNames, ['shop.example.com', '*.shop.example.com']);
  assert.ok(r.pair.notAfter.getTime() > now());
});

test('a chain file (leaf, then the CA) is taken; the leaf is checked', () => {
  const r = checkServerPair(`${good.certPem}\n${ca.certPem}`, good.keyPem, 'c.pem', 'k.pem', now());
  assert.ok(r.ok);
});

test('each refusal names the file at fault', async () => {
  const cases: [string, string, 'cert' | 'key', RegExp][] = [
    [good.certPem, other.keyPem, 'key', /does not match the certificate in c\.pem/],
    ['hello', good.keyPem, 'cert', /no PEM certificate/],
    ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', good.keyPem, 'cert', /not a readable PEM certificate/],
    [good.certPem, 'not a key', 'key', /not a readable PEM private key/],
  ];
  for (const [cert, key, which, msg] of cases) {
    const r = checkServerPair(cert, key, 'c.pem', 'k.pem', now());
    assert.ok(!r.ok);
    assert.equal(r.problem.which, which);
    assert.equal(r.problem.file, which === 'cert' ? 'c.pem' : 'k.pem');
    assert.match(r.problem.message, msg);
  }
});

test('expired and not-yet-valid certificates are refused', async () => {
  const t = now();
  const expired = await ca.issue(['a.test'], { notBefore: new Date(t - 7_200_000), notAfter: new Date(t - 3_600_000) });
  const future = await ca.issue(['a.test'], { notBefore: new Date(t + 3_600_000), notAfter: new Date(t + 7_200_000) });
  const e = checkServerPair(expired.certPem, expired.keyPem, 'c.pem', 'k.pem', t);
  assert.ok(!e.ok);
  assert.match(e.problem.message, /^the certificate expired at /);
  const f = checkServerPair(future.certPem, future.keyPem, 'c.pem', 'k.pem', t);
  assert.ok(!f.ok);
  assert.match(f.problem.message, /^the certificate is not valid before /);
  // The clock is the caller's: the same expired pair was good an hour and a half ago.
  assert.ok(checkServerPair(expired.certPem, expired.keyPem, 'c.pem', 'k.pem', t - 5_400_000).ok);
});

test('files: missing, unreadable, a directory', async () => {
  const cert = join(dir, 'c.pem');
  const key = join(dir, 'k.pem');
  await writeFile(cert, good.certPem);
  await writeFile(key, good.keyPem, { mode: 0o600 });
  assert.ok(readServerPair(cert, key, now()).ok);
  const missing = readServerPair(join(dir, 'nope.pem'), key, now());
  assert.ok(!missing.ok);
  assert.deepEqual(missing.problem, { which: 'cert', file: join(dir, 'nope.pem'), message: 'no such file' });
  const isDir = readServerPair(cert, dir, now());
  assert.ok(!isDir.ok);
  assert.equal(isDir.problem.which, 'key');
  if (process.getuid?.() !== 0) {
    // root reads anything, so this case only means something for another user.
    await chmod(key, 0o000);
    const unreadable = readServerPair(cert, key, now());
    assert.ok(!unreadable.ok);
    assert.match(unreadable.problem.message, /^permission denied/);
    await chmod(key, 0o600);
  }
});
