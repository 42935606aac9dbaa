import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PairProblem } from '../../identity/server-pair.js';
import { testWebCa } from '../testing/web-certs.js';
import type { TestWebCa } from '../testing/web-certs.js';
import { IngressCertificates } from './ingress-certificates.js';

// reload() without file events (what the poll and the watch both call).

let ca: TestWebCa;
let dir: string;

before(async () => {
  ca = await testWebCa();
  dir = await mkdtemp(join(tmpdir(), 'trellis-ingress-certs-'));
});
after(() => rm(dir, { recursive: true, force: true }));

test('unchanged files change nothing; a problem is reported once, not on every re-read; a fix clears it', async () => {
  const cert = join(dir, 'a.crt');
  const key = join(dir, 'a.key');
  const first = await ca.issue(['a.test']);
  await writeFile(cert, first.certPem);
  await writeFile(key, first.keyPem);
  const reloaded: string[][] = [];
  const rejected: PairProblem[] = [];
  const certs = new IngressCertificates(
    { certificates: [{ certFile: cert, keyFile: key, hosts: [] }] },
    { now: () => Date.now(), onReloaded: (c) => reloaded.push(c.map((x) => x.certFile)), onRejected: (p) => rejected.push(p) },
  );
  certs.load();
  const ctx = certs.contextFor('a.test');
  assert.equal(certs.reload(), false);
  assert.equal(certs.contextFor('a.test'), ctx, 'the same context: nothing rebuilt');
  assert.deepEqual(reloaded, []);

  const other = await ca.issue(['a.test']);
  await writeFile(key, other.keyPem);
  await writeFile(cert, first.certPem);
  const second = await ca.issue(['a.test']);
  await writeFile(cert, second.certPem); // the key is still another certificate's
  assert.equal(certs.reload(), false);
  assert.equal(certs.reload(), false);
  assert.equal(rejected.length, 1, 'one report per distinct problem');
  assert.equal(rejected[0]?.file, key);
  assert.equal(certs.contextFor('a.test'), ctx, 'the previous pair still serves');

  await writeFile(key, second.keyPem);
  assert.equal(certs.reload(), true);
  assert.notEqual(certs.contextFor('a.test'), ctx);
  assert.deepEqual(reloaded, [[cert]]);
  assert.equal(certs.status().lastError, null);
  certs.close();
});

test('the first load throws naming the file', async () => {
  const certs = new IngressCertificates(
    { certificates: [{ certFile: join(dir, 'missing.crt'), keyFile: join(dir, 'missing.key'), hosts: [] }] },
    { now: () => Date.now(), onReloaded: () => {}, onRejected: () => {} },
  );
  assert.throws(() => certs.load(), { message: `ingress TLS: ${join(dir, 'missing.crt')}: no such file` });
});
