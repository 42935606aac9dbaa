import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agentReport, workload } from '../test-support.js';
import { Registry } from './registry.js';

test('leases expire leaseMs after the last report (injected time)', () => {
  const r = new Registry('td');
  let changes = 0;
  r.on('changed', () => changes++);
  r.upsert(agentReport('a1', [workload('web')], 1000), 0);
  r.upsert(agentReport('a2', [workload('api', { readyPorts: [20002] })], 5000), 0);
  assert.equal(changes, 2);
  assert.equal(r.nextExpiry(), 1000);
  assert.deepEqual(r.expire(999), []);
  r.upsert(agentReport('a1', [workload('web')], 1000), 900); // renewal, same content: no change event
  assert.equal(changes, 2);
  assert.deepEqual(r.expire(1500), []);
  assert.deepEqual(r.expire(1900), ['a1']);
  assert.equal(changes, 3);
  assert.deepEqual(r.endpoints().map((e) => e.workload), ['api']);
  assert.deepEqual(r.expire(5000), ['a2']);
  assert.equal(r.nextExpiry(), null);
  assert.deepEqual(r.endpoints(), []);
});

test('views: services count endpoints, identities come from the service account', () => {
  const r = new Registry('td');
  const w = workload('web', { readyPorts: [1, 2] });
  (w.replicas[1] as { state: string }).state = 'starting';
  r.upsert(agentReport('a1', [w]), 0);
  assert.deepEqual(r.services(), [
    { namespace: 'default', name: 'web', identity: 'spiffe://td/ns/default/sa/web', ports: [{ name: 'http', protocol: 'http' }], endpointsReady: 1, endpointsTotal: 2 },
  ]);
  assert.deepEqual(
    r.endpoints().map((e) => [e.nodeId, e.portNumber, e.ready]),
    [
      ['default/web/0', 1, true],
      ['default/web/1', 2, false],
    ],
  );
  assert.equal(r.workloads()[0]?.agentId, 'a1');
  assert.equal(r.node('default/web/1')?.identity, 'spiffe://td/ns/default/sa/web');
  assert.equal(r.remove('a1'), true);
  assert.equal(r.remove('a1'), false);
  assert.deepEqual(r.nodes(), []);
});

test('an ingress gateway is a workload but not a service', () => {
  const r = new Registry('td');
  const web = workload('web', { readyPorts: [], ingress: true, ports: [] });
  r.upsert(agentReport('a1', [workload('frontend', { readyPorts: [7000] }), web]), 0);
  assert.deepEqual(r.services().map((s) => s.name), ['frontend']);
  assert.deepEqual(r.workloads().map((w) => w.name).sort(), ['frontend', 'web']);
});
