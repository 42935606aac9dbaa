/**
 * Mesh-file fields for meshes across hosts: `hosts` (where a workload or ingress runs) and
 * workloads the agent does not start (no `command`, each port's `appPort`), with their
 * file:line:col: field errors.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseMeshText } from './load.js';

const BASE = `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata:
  name: shop
spec:
  ingress:
    - name: web
      listen: 0.0.0.0:8080
      service: frontend
      port: http
      hosts: [h1]
  workloads:
    - name: frontend
      command: [node, frontend.mjs]
      hosts: [H1]
      ports:
        - name: http
      upstreams:
        - service: billing
          port: http
    - name: billing
      hosts: [h2, h3]
      ports:
        - name: http
          appPort: 9000
      readiness:
        httpGet: { path: /healthz, port: http }
`;

/** Replaces line `n` (1-based) of BASE. */
function withLine(n: number, text: string): string {
  const lines = BASE.split('\n');
  lines[n - 1] = text;
  return lines.join('\n');
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

describe('mesh file: hosts and workloads run by something else', () => {
  it('reads hosts (lower-cased) and a workload without command with its appPort', () => {
    const m = parseMeshText(BASE, '/x/trellis.yaml');
    const [front, billing] = m.workloads;
    assert.ok(front && billing);
    assert.deepEqual(front.hosts, ['h1'], 'host names compare without case');
    assert.deepEqual(front.command, ['node', 'frontend.mjs']);
    assert.equal(billing.command, null, 'no command: something else runs it');
    assert.deepEqual(billing.hosts, ['h2', 'h3']);
    assert.deepEqual(billing.ports, [{ name: 'http', protocol: 'http', mtls: 'STRICT', appPort: 9000 }]);
    assert.deepEqual(m.ingress[0]?.hosts, ['h1']);
  });

  it('a workload without command needs an appPort on every port', () => {
    assert.deepEqual(issuesOf(withLine(25, '')), [
      '24:11 spec.workloads[1].ports[0].appPort: required: a workload without `command` is run by something else, so give the loopback port its app listens on',
    ]);
  });

  it('a fixed appPort needs replicas: 1 (more hosts instead)', () => {
    assert.deepEqual(issuesOf(withLine(22, '      hosts: [h2, h3]\n      replicas: 2')), [
      '26:20 spec.workloads[1].ports[0].appPort: a fixed appPort needs replicas: 1 (this workload has 2); list more hosts under `hosts` instead',
    ]);
  });

  it('a workload without command has no env and needs fixed upstream addresses', () => {
    const text = withLine(22, '      hosts: [h2, h3]\n      env: { A: b }\n      upstreams:\n        - service: frontend\n          port: http');
    assert.deepEqual(issuesOf(text), [
      '23:12 spec.workloads[1].env: a workload without `command` is not started by the agent, so nothing would receive this env',
      '25:11 spec.workloads[1].upstreams[0]: a workload without `command` needs a fixed `listen` address for each upstream: nothing passes it the address in a variable',
    ]);
    const fixed = parseMeshText(withLine(22, '      hosts: [h2, h3]\n      upstreams:\n        - service: frontend\n          port: http\n          listen: 127.0.0.1:7001'), '/x/trellis.yaml');
    assert.deepEqual(fixed.workloads[1]?.upstreams[0]?.listen, { host: '127.0.0.1', port: 7001 });
  });

  it('two workloads that can share a host cannot share an appPort; on different hosts they can', () => {
    const clash = `${BASE}    - name: other
      hosts: [h3]
      ports:
        - name: http
          appPort: 9000
`;
    assert.deepEqual(issuesOf(clash), ['32:20 spec.workloads[2].ports[0].appPort: port 9000 is already the appPort of spec.workloads[1].ports[0] on a host this workload runs on']);
    const apart = clash.replace('hosts: [h3]\n', 'hosts: [h4]\n');
    assert.equal(parseMeshText(apart, '/x/trellis.yaml').workloads.length, 3);
  });

  it('host lists: a name each, no repeats, not empty', () => {
    assert.deepEqual(issuesOf(withLine(22, '      hosts: [h2, H2]')), ['22:19 spec.workloads[1].hosts[1]: host "H2" is listed twice']);
    assert.deepEqual(issuesOf(withLine(22, '      hosts: []')), ['22:14 spec.workloads[1].hosts: expected at least one host (leave `hosts` out to run on every host)']);
    assert.deepEqual(issuesOf(withLine(11, '      hosts: [h_1]')), ['11:15 spec.ingress[0].hosts[0]: expected a host name (letters, digits, "-" and ".", e.g. h1 or web-3.example.net)']);
  });

  it('appPort is a port number', () => {
    assert.deepEqual(issuesOf(withLine(25, '          appPort: 70000')), ['25:20 spec.workloads[1].ports[0].appPort: must be at most 65535']);
  });
});
