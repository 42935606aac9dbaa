import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, formatIssue } from '../issues.js';
import { loadResources, parseResourcesText } from './load.js';

const GOOD = `# two routes and a policy
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
spec:
  parentRefs: [{name: web}]
  rules:
    - backendRefs: [{name: web, port: 8080}]
---
apiVersion: trellis.dev/v1alpha1
kind: DestinationPolicy
metadata:
  name: web
  namespace: shop
spec:
  targetRef: {name: web}
---
`;

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.issues.map(formatIssue);
  }
  assert.fail('no error');
}

describe('resources from multi-document YAML', () => {
  it('loads every document with the line it starts on (empty documents skipped)', () => {
    const list = parseResourcesText(GOOD, 'r.yaml');
    assert.deepEqual(
      list.map((l) => [l.resource.kind, l.resource.metadata.namespace, l.line]),
      [
        ['HTTPRoute', 'default', 2],
        ['DestinationPolicy', 'shop', 11],
      ],
    );
  });

  it('file:line:col: <kind>/<name>: field.path: reason, for a problem in the second document', () => {
    const text = GOOD.replace('targetRef: {name: web}', 'targetRef: {name: web}\n  loadBalancer:\n    type: random');
    assert.deepEqual(issuesOf(() => parseResourcesText(text, 'r.yaml')), ['r.yaml:19:11: DestinationPolicy/web: spec.loadBalancer.type: expected one of peak-ewma, round-robin, least-request, consistent-hash']);
  });

  it('an unknown field points at its key; a bad regex at its value', () => {
    const text = GOOD.replace('    - backendRefs:', '    - matches:\n        - path: {type: RegularExpression, value: "/a("}\n      backendRefs:').replace('  parentRefs:', '  colour: red\n  parentRefs:');
    assert.deepEqual(issuesOf(() => parseResourcesText(text, 'r.yaml')), [
      'r.yaml:7:3: HTTPRoute/web: spec.colour: unknown field',
      'r.yaml:11:50: HTTPRoute/web: spec.rules[0].matches[0].path.value: invalid regular expression (RE2 syntax): missing closing ): `/a(`',
    ]);
  });

  it('a regex JavaScript accepts but RE2 refuses is refused at apply, with file:line:col and the reason', () => {
    const text = GOOD.replace('    - backendRefs:', "    - matches:\n        - headers: [{type: RegularExpression, name: x-id, value: '([0-9]+)-\\1'}]\n      backendRefs:");
    assert.deepEqual(issuesOf(() => parseResourcesText(text, 'r.yaml')), [
      'r.yaml:10:66: HTTPRoute/web: spec.rules[0].matches[0].headers[0].value: invalid regular expression (RE2 syntax): invalid escape sequence: `\\1` (RE2 has no backreferences)',
    ]);
  });

  it('YAML syntax errors and duplicates are reported with their lines', () => {
    assert.match(issuesOf(() => parseResourcesText('a: [1\n', 'x.yaml'))[0] ?? '', /^x\.yaml:\d+:\d+: YAML: /);
    const dup = `${GOOD}${GOOD.split('---')[0] ?? ''}`;
    assert.deepEqual(issuesOf(() => parseResourcesText(dup, 'd.yaml')), ['d.yaml:20:1: HTTPRoute/web: defined twice (first at d.yaml:2)']);
  });

  it('a directory: every *.yaml, sorted; problems of all files together', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-res-'));
    try {
      await writeFile(join(dir, 'b.yaml'), GOOD);
      await writeFile(join(dir, 'a.yml'), 'apiVersion: trellis.dev/v1alpha1\nkind: FaultInjection\nmetadata: {name: slow}\nspec: {delay: {fixedDelay: 1s}}\n');
      await writeFile(join(dir, 'notes.txt'), 'ignored');
      const list = await loadResources(dir, '/');
      assert.deepEqual(list.map((l) => l.resource.kind), ['FaultInjection', 'HTTPRoute', 'DestinationPolicy']);
      await writeFile(join(dir, 'c.yaml'), 'apiVersion: trellis.dev/v1alpha1\nkind: FaultInjection\nmetadata: {name: bad}\nspec: {}\n');
      await writeFile(join(dir, 'd.yaml'), 'kind: FaultInjection\n');
      await assert.rejects(loadResources(dir, '/'), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        const lines = err.issues.map(formatIssue);
        assert.equal(lines.length, 4, lines.join('\n'));
        assert.match(lines[0] ?? '', /c\.yaml:4:7: FaultInjection\/bad: spec: needs delay or abort/);
        return true;
      });
      assert.equal((await loadResources('-', '/', () => Promise.resolve(GOOD))).length, 2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
