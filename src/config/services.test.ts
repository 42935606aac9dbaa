import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseMeshText } from './load.js';

// A canary mesh: catalog runs as two workloads (v1, v2) of one service; spec.services declares
// one service per version by label selector.
const MESH = `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata: { name: shop }
spec:
  workloads:
    - name: frontend
      command: [node, f.mjs]
      ports: [{ name: http }]
      upstreams:
        - { service: catalog, port: http }
        - { service: catalog-v2, port: http }
    - name: catalog-v1
      service: catalog
      command: [node, c.mjs]
      labels: { version: v1 }
      ports: [{ name: http }, { name: grpc, protocol: grpc }]
    - name: catalog-v2
      service: catalog
      command: [node, c.mjs]
      labels: { version: v2, track: canary }
      ports: [{ name: http }, { name: grpc, protocol: grpc }]
  services:
    - name: catalog-stable
      selector: { app: catalog, version: v1 }
    - name: catalog-v2
      selector: { app: catalog, version: v2 }
`;

/** Replaces the first occurrence of `from` (which must be there). */
function edit(from: string, to: string): string {
  assert.ok(MESH.includes(from), `fixture has no "${from}"`);
  return MESH.replace(from, to);
}

function issuesOf(text: string): string[] {
  try {
    parseMeshText(text, '/x/trellis.yaml', 'm.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`);
  }
  assert.fail('expected the mesh file to be rejected');
}

describe('mesh file: workload labels and label-selected services', () => {
  it('labels carry app: <service>; services list the workloads they select; upstreams may name them', () => {
    const m = parseMeshText(MESH, '/x/trellis.yaml');
    assert.deepEqual(m.workloads[0]?.labels, { app: 'frontend' });
    assert.deepEqual(m.workloads[2]?.labels, { version: 'v2', track: 'canary', app: 'catalog' });
    assert.deepEqual(m.services, [
      { name: 'catalog-stable', selector: { app: 'catalog', version: 'v1' }, workloads: ['catalog-v1'] },
      { name: 'catalog-v2', selector: { app: 'catalog', version: 'v2' }, workloads: ['catalog-v2'] },
    ]);
    assert.deepEqual(
      m.workloads[0]?.upstreams.map((u) => [u.cluster, u.protocol, u.env]),
      [
        ['default/catalog:http', 'http', 'CATALOG_ADDR'],
        ['default/catalog-v2:http', 'http', 'CATALOG_V2_ADDR'],
      ],
    );
    // A selector on app alone picks both versions.
    const both = parseMeshText(edit('{ app: catalog, version: v1 }', '{ app: catalog }'), '/x/trellis.yaml');
    assert.deepEqual(both.services[0]?.workloads, ['catalog-v1', 'catalog-v2']);
  });

  it('a service name a workload already serves', () => {
    assert.deepEqual(issuesOf(edit('- name: catalog-stable', '- name: catalog')), [
      '23:13 spec.services[0].name: service "catalog" is already served by spec.workloads[1]; a selected service needs a name of its own',
    ]);
  });

  it('a duplicate service name', () => {
    assert.deepEqual(issuesOf(edit('- name: catalog-stable', '- name: catalog-v2')), ['25:13 spec.services[1].name: duplicate service name "catalog-v2"']);
  });

  it('a selector that picks no workload', () => {
    assert.deepEqual(issuesOf(edit('{ app: catalog, version: v1 }', '{ app: catalog, version: v3 }')), [
      '24:17 spec.services[0].selector: selects no workload (none has labels app=catalog, version=v3; every workload also carries app=<its service>)',
    ]);
  });

  it('selected workloads that disagree on ports (names or protocols)', () => {
    // frontend (one http port) gets version: v1 too, so a selector on version alone picks it with catalog-v1.
    const text = edit('{ app: catalog, version: v1 }', '{ version: v1 }').replace(
      '    - name: frontend\n      command: [node, f.mjs]\n',
      '    - name: frontend\n      command: [node, f.mjs]\n      labels: { version: v1 }\n',
    );
    assert.deepEqual(issuesOf(text), [
      '25:17 spec.services[0].selector: selects spec.workloads[0] and spec.workloads[1], which declare different ports; the workloads of one service must declare the same port names and protocols',
    ]);
  });

  it('an app label other than the service, a bad label, an empty selector', () => {
    assert.deepEqual(issuesOf(edit('labels: { version: v1 }', 'labels: { version: v1, app: shop }')), [
      "15:35 spec.workloads[1].labels.app: \"app\" is always the workload's service (\"catalog\"); leave it out or set it to that",
    ]);
    assert.match(issuesOf(edit('labels: { version: v1 }', 'labels: { version: V_1 }'))[0] ?? '', /^15:\d+ spec\.workloads\[1\]\.labels\.version: expected a lower-case DNS label/);
    assert.deepEqual(issuesOf(edit('{ app: catalog, version: v1 }', '{}')), ['24:17 spec.services[0].selector: expected at least one label']);
  });

  it('an upstream to a port the selected service does not have', () => {
    assert.deepEqual(issuesOf(edit('{ service: catalog-v2, port: http }', '{ service: catalog-v2, port: admin }')), [
      '11:40 spec.workloads[0].upstreams[1].port: service "catalog-v2" has no port "admin" (its ports: http, grpc)',
    ]);
  });
});
