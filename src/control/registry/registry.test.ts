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

/** Two versions of catalog (one workload each) and a service per version, declared by selector. */
function canaryRegistry(): Registry {
  const r = new Registry('td');
  const v1 = workload('catalog-v1', { service: 'catalog', serviceAccount: 'catalog', labels: { version: 'v1' }, readyPorts: [7001, 7002] });
  const v2 = workload('catalog-v2', { service: 'catalog', serviceAccount: 'catalog', labels: { version: 'v2' }, readyPorts: [7003], loadBalancer: 'round-robin' });
  const gate = workload('gate', { readyPorts: [], ingress: true, ports: [], labels: { version: 'v2' } });
  r.upsert(
    {
      ...agentReport('a1', [workload('frontend', { upstreams: ['default/catalog-v2:http'], readyPorts: [7000] }), v1, v2, gate]),
      services: [
        { namespace: 'default', name: 'catalog-v2', selector: { app: 'catalog', version: 'v2' } },
        { namespace: 'default', name: 'all-v2', selector: { version: 'v2' } },
        { namespace: 'default', name: 'frontend', selector: { app: 'catalog' } }, // a workload serves it: ignored
        { namespace: 'default', name: 'nobody', selector: { version: 'v9' } }, // matches nothing: not listed
      ],
    },
    0,
  );
  return r;
}

test('label-selected services: listed with their ports, endpoints of the matching workloads, protocol and balancer', () => {
  const r = canaryRegistry();
  assert.deepEqual(
    r.services().map((s) => [s.name, s.endpointsTotal, s.selector]),
    [
      ['all-v2', 1, { version: 'v2' }],
      ['catalog', 3, undefined],
      ['catalog-v2', 1, { app: 'catalog', version: 'v2' }],
      ['frontend', 1, undefined],
    ],
  );
  const v2 = r.services().find((s) => s.name === 'catalog-v2');
  assert.equal(v2?.identity, 'spiffe://td/ns/default/sa/catalog');
  assert.deepEqual(v2?.ports, [{ name: 'http', protocol: 'http' }]);
  assert.deepEqual(
    r.endpoints().filter((e) => e.service === 'catalog-v2').map((e) => [e.workload, e.portNumber, e.nodeId]),
    [['catalog-v2', 7003, 'default/catalog-v2/0']],
    'the ingress labelled version: v2 is never selected',
  );
  assert.deepEqual(r.endpoints().filter((e) => e.service === 'frontend').map((e) => e.workload), ['frontend']);
  assert.equal(r.portProtocol('default', 'catalog-v2', 'http'), 'http');
  assert.equal(r.portProtocol('default', 'catalog-v2', 'grpc'), null);
  assert.equal(r.portProtocol('default', 'nobody', 'http'), null);
  assert.equal(r.loadBalancer('default', 'catalog-v2'), 'round-robin');
  assert.equal(r.selectedServices().length, 2);
});

test('a report whose declared services change is a change; the same report is not', () => {
  const r = canaryRegistry();
  let changes = 0;
  r.on('changed', () => changes++);
  const report = agentReport('a1', [workload('catalog', { labels: { version: 'v1' } })]);
  r.upsert({ ...report, services: [{ namespace: 'default', name: 'v1', selector: { version: 'v1' } }] }, 1);
  r.upsert({ ...report, services: [{ namespace: 'default', name: 'v1', selector: { version: 'v1' } }] }, 2);
  assert.equal(changes, 1);
  r.upsert({ ...report, services: [{ namespace: 'default', name: 'v1', selector: { app: 'catalog' } }] }, 3);
  assert.equal(changes, 2);
  assert.deepEqual(r.services().map((s) => s.name), ['catalog', 'v1']);
});
