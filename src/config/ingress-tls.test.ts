import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { testWebCa } from '../proxy/testing/web-certs.js';
import { packageRoot } from '../util/paths.js';
import type { TestWebCa } from '../proxy/testing/web-certs.js';
import { ConfigError, parseMeshText } from './load.js';

// spec.ingress[].tls: the fields, and the files they name, checked at load with file:line:field.

let dir: string;
let ca: TestWebCa;

/** A mesh file whose one ingress has `ingressLines` (indented 4) after its name. */
function mesh(ingressLines: string): string {
  return `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata: { name: shop }
spec:
  ingress:
    - name: web
      service: front
      port: http
${ingressLines}
  workloads:
    - { name: front, command: [node, a.mjs], ports: [{ name: http }] }
`;
}

function load(text: string, now?: number): ReturnType<typeof parseMeshText> {
  return parseMeshText(text, join(dir, 'trellis.yaml'), 'trellis.yaml', now !== undefined ? { now: () => now } : {});
}

function issuesOf(text: string, now?: number): string[] {
  try {
    load(text, now);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.issues.map((i) => `${i.file}:${i.line}:${i.col}: ${i.path}: ${i.message}`);
  }
  return assert.fail('expected the mesh file to be rejected');
}

const TLS = `      tls:
        listen: 127.0.0.1:8443
        certificates:
          - cert: certs/shop.crt
            key: certs/shop.key
          - { cert: certs/api.crt, key: certs/api.key, hosts: [API.example.com] }`;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trellis-mesh-tls-'));
  ca = await testWebCa();
  const shop = await ca.issue(['shop.example.com']);
  const api = await ca.issue(['api.example.com']);
  await mkdir(join(dir, 'certs'));
  await writeFile(join(dir, 'certs/shop.crt'), shop.certPem);
  await writeFile(join(dir, 'certs/shop.key'), shop.keyPem, { mode: 0o600 });
  await writeFile(join(dir, 'certs/api.crt'), api.certPem);
  await writeFile(join(dir, 'certs/api.key'), api.keyPem, { mode: 0o600 });
  await writeFile(join(dir, 'certs/other.key'), (await ca.issue(['x.test'])).keyPem, { mode: 0o600 });
  const old = await ca.issue(['old.test'], { notBefore: new Date(Date.now() - 7_200_000), notAfter: new Date(Date.now() - 3_600_000) });
  await writeFile(join(dir, 'certs/old.crt'), old.certPem);
  await writeFile(join(dir, 'certs/old.key'), old.keyPem, { mode: 0o600 });
});

after(() => rm(dir, { recursive: true, force: true }));

describe('mesh file: spec.ingress[].tls', () => {
  it('TLS only: no plain listener, absolute paths, host names lower-cased', () => {
    const [g] = load(mesh(TLS)).ingress;
    assert.ok(g);
    assert.equal(g.listen, null, 'listen absent with tls set: TLS only');
    assert.deepEqual(g.tls, {
      listen: { host: '127.0.0.1', port: 8443 },
      certificates: [
        { certFile: join(dir, 'certs/shop.crt'), keyFile: join(dir, 'certs/shop.key'), hosts: [] },
        { certFile: join(dir, 'certs/api.crt'), keyFile: join(dir, 'certs/api.key'), hosts: ['api.example.com'] },
      ],
    });
  });

  it('both: a plain listener and a TLS one on different ports', () => {
    const [g] = load(mesh(`      listen: 127.0.0.1:8080\n${TLS}`)).ingress;
    assert.deepEqual(g?.listen, { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(g?.tls?.listen, { host: '127.0.0.1', port: 8443 });
  });

  it('no tls: plain only, on 127.0.0.1:0 by default (as before)', () => {
    const [g] = load(mesh('')).ingress;
    assert.deepEqual(g?.listen, { host: '127.0.0.1', port: 0 });
    assert.equal(g?.tls, null);
  });

  it('a missing file names the field and the file', () => {
    assert.deepEqual(issuesOf(mesh(TLS.replace('certs/shop.crt', 'certs/nope.crt'))), [
      'trellis.yaml:12:19: spec.ingress[0].tls.certificates[0].cert: certs/nope.crt: no such file',
    ]);
  });

  it('a key of another certificate is refused at the key', () => {
    assert.deepEqual(issuesOf(mesh(TLS.replace('certs/shop.key', 'certs/other.key'))), [
      `trellis.yaml:13:18: spec.ingress[0].tls.certificates[0].key: certs/other.key: the key does not match the certificate in ${join(dir, 'certs/shop.crt')}`,
    ]);
  });

  it('an unreadable key (not PEM) is refused at the key', () => {
    const issues = issuesOf(mesh(TLS.replace('certs/shop.key', 'certs/shop.crt')));
    assert.equal(issues.length, 1);
    assert.match(issues[0] ?? '', /^trellis\.yaml:13:18: spec\.ingress\[0\]\.tls\.certificates\[0\]\.key: certs\/shop\.crt: not a readable PEM private key/);
  });

  it('an expired certificate is refused (not served with a warning)', () => {
    const issues = issuesOf(mesh(TLS.replace('certs/shop.crt', 'certs/old.crt').replace('certs/shop.key', 'certs/old.key')));
    assert.equal(issues.length, 1);
    assert.match(issues[0] ?? '', /^trellis\.yaml:12:19: spec\.ingress\[0\]\.tls\.certificates\[0\]\.cert: certs\/old\.crt: the certificate expired at /);
    // The clock is injected: the same file was fine two hours ago.
    assert.ok(load(mesh('      tls:\n        certificates: [{ cert: certs/old.crt, key: certs/old.key }]'), Date.now() - 5_400_000));
  });

  it('field errors: no certificates, a bad host name, an unknown field, the same fixed address twice', () => {
    assert.deepEqual(issuesOf(mesh('      tls: { certificates: [] }')), ['trellis.yaml:9:28: spec.ingress[0].tls.certificates: expected at least one certificate']);
    assert.deepEqual(issuesOf(mesh(TLS.replace('API.example.com', 'bad_name'))), [
      'trellis.yaml:14:64: spec.ingress[0].tls.certificates[1].hosts[0]: expected a host name such as shop.example.com or *.example.com',
    ]);
    assert.deepEqual(issuesOf(mesh(`${TLS}\n        ciphers: weak`)), ['trellis.yaml:15:9: spec.ingress[0].tls.ciphers: unknown field']);
    assert.deepEqual(issuesOf(mesh(`      listen: 127.0.0.1:8443\n${TLS}`)), [
      'trellis.yaml:11:17: spec.ingress[0].tls.listen: address 127.0.0.1:8443 is already used by spec.ingress[0].listen',
    ]);
  });
});

// Every mesh file in the ingress docs loads, with certificates made for the files it names.
it('docs/ingress.md and docs/configuration.md: the mesh-file examples with ingress TLS load', async () => {
  let seen = 0;
  for (const page of ['ingress.md', 'configuration.md']) {
    const md = readFileSync(join(packageRoot, 'docs', page), 'utf8');
    const blocks = [...md.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '').filter((b) => /^apiVersion: trellis\.dev\/v1alpha1\nkind: Mesh\n/.test(b) && /^\s+tls:/m.test(b));
    for (const b of blocks) {
      const doc = parse(b) as { spec: { ingress: { tls?: { certificates: { cert: string; key: string; hosts?: string[] }[] } }[] } };
      const folder = await mkdtemp(join(tmpdir(), 'trellis-doc-tls-'));
      try {
        for (const g of doc.spec.ingress) {
          for (const c of g.tls?.certificates ?? []) {
            const pair = await ca.issue(c.hosts ?? ['example.test']);
            await mkdir(dirname(join(folder, c.cert)), { recursive: true });
            await writeFile(join(folder, c.cert), pair.certPem);
            await writeFile(join(folder, c.key), pair.keyPem, { mode: 0o600 });
          }
        }
        const m = parseMeshText(b, join(folder, 'trellis.yaml'), `docs/${page}`);
        assert.ok(m.ingress.some((g) => g.tls !== null));
        seen++;
      } finally {
        await rm(folder, { recursive: true, force: true });
      }
    }
  }
  assert.ok(seen >= 2, `only ${seen} examples found`);
});
