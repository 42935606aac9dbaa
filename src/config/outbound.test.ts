import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseMeshText } from './load.js';

const mesh = (outbound: string): string => `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata:
  name: shop
spec:
${outbound}
  workloads:
    - name: web
      command: [node, web.mjs]
      ports: [{ name: http }]
      upstreams: [{ service: web, port: http, env: EGRESS_API_ADDR }]
`;

function problems(text: string): string[] {
  try {
    parseMeshText(text, 'trellis.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`);
  }
  assert.fail('expected the mesh file to be rejected');
}

describe('mesh file: spec.outbound', () => {
  it('defaults to allowAny with no egress listeners', () => {
    const m = parseMeshText(mesh(''), 'trellis.yaml');
    assert.deepEqual(m.outbound, { mode: 'allowAny', ports: [] });
  });

  it('takes the mode and egress ports, with EGRESS_<NAME>_ADDR variables by default', () => {
    const m = parseMeshText(
      mesh(`  outbound:
    mode: registryOnly
    ports:
      - { name: https, port: 443, protocol: tls }
      - { name: plain-http, port: 80, protocol: http, env: WEB_PROXY }`),
      'trellis.yaml',
    );
    assert.deepEqual(m.outbound, {
      mode: 'registryOnly',
      ports: [
        { name: 'https', port: 443, protocol: 'tls', env: 'EGRESS_HTTPS_ADDR' },
        { name: 'plain-http', port: 80, protocol: 'http', env: 'WEB_PROXY' },
      ],
    });
  });

  it('refuses a bad mode, protocol and port with file:line:col and the field', () => {
    const got = problems(
      mesh(`  outbound:
    mode: denyAll
    ports:
      - { name: https, port: 70000, protocol: tcp }`),
    );
    assert.equal(got.length, 3, got.join('\n'));
    assert.match(got[0] ?? '', /^7:11 spec\.outbound\.mode: expected one of allowAny, registryOnly/);
    assert.match(got[1] ?? '', /^9:30 spec\.outbound\.ports\[0\]\.port: /);
    assert.match(got[2] ?? '', /^9:47 spec\.outbound\.ports\[0\]\.protocol: expected one of http, tls/);
  });

  it('refuses two listeners for one port, duplicate names and a variable the workload already has', () => {
    const got = problems(
      mesh(`  outbound:
    ports:
      - { name: api, port: 443, protocol: tls }
      - { name: api, port: 443, protocol: http, env: OTHER }`),
    );
    assert.deepEqual(got, [
      '8:17 spec.outbound.ports[0].name: environment variable EGRESS_API_ADDR is already set for spec.workloads[0]',
      '9:17 spec.outbound.ports[1].name: duplicate egress port name "api"',
      '9:28 spec.outbound.ports[1].port: port 443 is already declared by spec.outbound.ports[0]; one egress listener serves every ExternalService of a port',
    ]);
  });
});
