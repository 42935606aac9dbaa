import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMeshText } from '../config/load.js';
import { buildBootstrap } from './bootstrap.js';
import { advertiseAddressProblem, ingressReplicasOn, isLoopbackAddress, replicasOn } from './placement.js';

describe('placement: which replicas a host runs', () => {
  it('a workload without hosts runs its replicas, numbered from 0, on every host', () => {
    assert.deepEqual(replicasOn({ replicas: 2, hosts: null }, 'h1'), [0, 1]);
    assert.deepEqual(replicasOn({ replicas: 2, hosts: null }, null), [0, 1]);
  });

  it('hosts: each host runs `replicas`, numbered by its place in the list, so no two hosts share a replica number', () => {
    const w = { replicas: 2, hosts: ['h2', 'h3'] };
    assert.deepEqual(replicasOn(w, 'h2'), [0, 1]);
    assert.deepEqual(replicasOn(w, 'H3'), [2, 3], 'host names compare without case');
    assert.deepEqual(replicasOn(w, 'h1'), [], 'not placed here');
    assert.deepEqual(replicasOn(w, null), [0, 1, 2, 3], 'one machine (trellis up) runs every host\'s share');
  });

  it('an ingress runs once per host it is placed on', () => {
    assert.deepEqual(ingressReplicasOn({ hosts: ['h1', 'h2'] }, 'h2'), [1]);
    assert.deepEqual(ingressReplicasOn({ hosts: null }, 'h9'), [0]);
  });

  it('an advertise address is an IP address peers can dial', () => {
    assert.equal(advertiseAddressProblem('10.77.0.11'), null);
    assert.equal(advertiseAddressProblem('fd00::5'), null);
    assert.match(advertiseAddressProblem('h1.example.net') ?? '', /expected an IP address/);
    assert.match(advertiseAddressProblem('0.0.0.0') ?? '', /wildcard/);
    assert.match(advertiseAddressProblem('::') ?? '', /wildcard/);
  });

  it('loopback addresses are 127.0.0.0/8 and ::1', () => {
    assert.equal(isLoopbackAddress('127.0.0.1'), true);
    assert.equal(isLoopbackAddress('127.1.2.3'), true);
    assert.equal(isLoopbackAddress('::1'), true);
    assert.equal(isLoopbackAddress('10.77.0.11'), false);
    assert.equal(isLoopbackAddress('1127.0.0.1'), false);
  });
});

describe('bootstrap on a host with an advertise address', () => {
  it('inbound listeners bind the advertise address; apps, outbound and admin stay on loopback', () => {
    const mesh = parseMeshText(
      `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata: { name: m }
spec:
  workloads:
    - name: a
      command: [node, a.mjs]
      ports: [{ name: http }]
      upstreams: [{ service: a, port: http }]
`,
      '/m/trellis.yaml',
    );
    const w = mesh.workloads[0];
    assert.ok(w);
    const b = buildBootstrap({
      mesh,
      spec: { kind: 'workload', workload: w },
      replica: 0,
      ports: { admin: 9000, remoteAdmin: 9102, app: new Map([['http', 9001]]), inbound: new Map([['http', 9101]]), inboundHost: '10.77.0.12', outbound: [{ host: '127.0.0.1', port: 9201 }] },
      token: { token: 't', pushUrl: 'https://10.77.0.11:15012', trustBundlePem: [], controlPlaneIdentity: 'spiffe://trellis.local/control-plane' },
      adminToken: 'a'.repeat(43),
      accessLogFile: '/s/a.log',
      logLevel: 'info',
    });
    assert.deepEqual(b.inbound, [{ name: 'http', protocol: 'http', listen: { host: '10.77.0.12', port: 9101 }, app: { host: '127.0.0.1', port: 9001 } }]);
    assert.deepEqual(b.admin, { host: '127.0.0.1', port: 9000 });
    // The control plane on another host reaches the admin endpoints through the mTLS remote listener on the host address.
    assert.deepEqual(b.remoteAdmin, { host: '10.77.0.12', port: 9102 });
    assert.deepEqual(b.outbound[0]?.listen, { host: '127.0.0.1', port: 9201 });
  });
});
