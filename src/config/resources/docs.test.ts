import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { packageRoot } from '../../util/paths.js';
import { parseMeshText } from '../load.js';
import { problemPath, validateResource } from './validate.js';

// Every example in docs/configuration.md is valid: whole resources as they are, a mesh file
// (kind: Mesh, the mTLS modes) as a mesh file, filter snippets inside a minimal HTTPRoute.
test('docs/configuration.md examples validate', () => {
  const md = readFileSync(join(packageRoot, 'docs', 'configuration.md'), 'utf8');
  const blocks = [...md.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  let seen = 0;
  let meshFiles = 0;
  for (const b of blocks) {
    // Mesh-file excerpts marked `# mesh file` are checked as mesh files (a later test); others are loaded below.
    if (b.startsWith('# mesh file')) continue;
    const data: unknown = parse(b);
    if ((data as { kind?: unknown }).kind === 'Mesh') {
      // Ingress TLS excerpts name certificate files: src/config/ingress-tls.test.ts writes them and loads those.
      if (/^\s+tls:/m.test(b)) continue;
      assert.doesNotThrow(() => parseMeshText(b, 'docs/configuration.md'), b.slice(0, 60));
      meshFiles++;
      continue;
    }
    const resources = b.startsWith('apiVersion')
      ? [data]
      : (data as unknown[]).map((f) => ({
          apiVersion: 'gateway.networking.k8s.io/v1',
          kind: 'HTTPRoute',
          metadata: { name: 'doc' },
          spec: { parentRefs: [{ name: 'a' }], rules: [{ filters: [f], backendRefs: [{ name: 'a', port: 1 }] }] },
        }));
    for (const r of resources) {
      const v = validateResource(r);
      assert.ok(v.ok, v.ok ? '' : `${b.slice(0, 60)}...: ${v.problems.map((p) => `${problemPath(p)}: ${p.message}`).join('; ')}`);
      seen++;
    }
  }
  assert.ok(seen >= 9, `only ${seen} examples found`);
  assert.ok(meshFiles >= 1, 'the mTLS modes example (a mesh file) is there');
});

// The rate-limit examples of docs/security.md validate (blocks that are resources).
test('docs/security.md resource examples validate', () => {
  const md = readFileSync(join(packageRoot, 'docs', 'security.md'), 'utf8');
  const blocks = [...md.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '').filter((b) => b.startsWith('apiVersion'));
  for (const b of blocks) {
    for (const doc of parseAllDocuments(b)) {
      const v = validateResource(doc.toJS());
      assert.ok(v.ok, v.ok ? '' : `${b.slice(0, 60)}...: ${v.problems.map((p) => `${problemPath(p)}: ${p.message}`).join('; ')}`);
    }
  }
  assert.ok(blocks.length >= 1, 'no resource examples found');
});

// The demo's policies (README "Lock it down") validate: the walk-through applies them as they are.
test('examples/shop/policies validate', () => {
  let seen = 0;
  for (const name of ['catalog-lockdown.yaml', 'frontend-rate-limit.yaml']) {
    const v = validateResource(parse(readFileSync(join(packageRoot, 'examples', 'shop', 'policies', name), 'utf8')));
    assert.ok(v.ok, v.ok ? '' : `${name}: ${v.problems.map((p) => `${problemPath(p)}: ${p.message}`).join('; ')}`);
    seen++;
  }
  assert.equal(seen, 2);
});

test('docs/configuration.md mesh-file examples validate', () => {
  const md = readFileSync(join(packageRoot, 'docs', 'configuration.md'), 'utf8');
  const blocks = [...md.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '').filter((b) => b.startsWith('# mesh file'));
  assert.ok(blocks.length >= 1);
  for (const b of blocks) parseMeshText(b, 'configuration.md');
});

// Every resource in the worked examples of docs/traffic.md validates (blocks that are not
// resources, such as mesh-file excerpts, start with a comment and are skipped).
test('docs/traffic.md examples validate', () => {
  const md = readFileSync(join(packageRoot, 'docs', 'traffic.md'), 'utf8');
  const blocks = [...md.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '').filter((b) => b.startsWith('apiVersion'));
  let seen = 0;
  for (const b of blocks) {
    for (const doc of parseAllDocuments(b)) {
      const v = validateResource(doc.toJS());
      assert.ok(v.ok, v.ok ? '' : `${b.slice(0, 60)}...: ${v.problems.map((p) => `${problemPath(p)}: ${p.message}`).join('; ')}`);
      seen++;
    }
  }
  assert.ok(seen >= 13, `only ${seen} examples found`);
});
