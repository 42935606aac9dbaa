import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProxyView, ReplicaReport, WorkloadView } from '../../api/registry.js';
import { workloadStatusRows } from './workload-status.js';

const replica = (n: number, state: ReplicaReport['state']): ReplicaReport => ({
  replica: n,
  nodeId: `default/b/${n}`,
  state,
  restarts: 0,
  appPid: null,
  proxyPid: null,
  adminUrl: '',
  endpoints: [],
  lastExit: null,
});

const b: WorkloadView = {
  namespace: 'default',
  name: 'b',
  service: 'b',
  serviceAccount: 'b',
  ports: [],
  upstreams: [],
  ingress: false,
  replicas: [replica(1, 'starting'), replica(0, 'ready')],
  agentId: 'h1',
  identity: 'spiffe://td/ns/default/sa/b',
};

const proxy: ProxyView = {
  nodeId: 'default/b/0',
  identity: 'spiffe://td/ns/default/sa/b',
  connected: true,
  version: 7,
  ackedVersion: 6,
  nack: { version: 7, error: 'bad route' },
  certNotAfter: '2030-01-01T00:01:30.000Z',
  certSerial: '01',
  tlsHandshakes: 0,
  tlsFailures: 0,
  peersVerified: 0,
  adminUrl: null,
  lastSeen: null,
};

describe('workloadStatusRows', () => {
  it('joins each replica with its proxy by node id; expiry counts from the injected now', () => {
    const rows = workloadStatusRows([b], [proxy], Date.parse('2030-01-01T00:00:00.000Z'));
    assert.deepEqual(rows[0], {
      namespace: 'default',
      workload: 'b',
      service: 'b',
      ingress: false,
      replica: 0,
      nodeId: 'default/b/0',
      state: 'ready',
      identity: 'spiffe://td/ns/default/sa/b',
      certNotAfter: '2030-01-01T00:01:30.000Z',
      certExpiresInSeconds: 90,
      configVersion: 7,
      ackedVersion: 6,
      nack: { version: 7, error: 'bad route' },
      connected: true,
      ports: [],
      exposed: [],
    });
  });

  it('ports carry their mode and, when PERMISSIVE, the proxy\'s plaintext count; exposures are closed only for locked ports', () => {
    const w: WorkloadView = {
      ...b,
      ports: [
        { name: 'http', protocol: 'http', mtls: 'PERMISSIVE' },
        { name: 'grpc', protocol: 'grpc' },
        { name: 'admin', protocol: 'http', mtls: 'PERMISSIVE' },
      ],
      replicas: [{ ...replica(0, 'ready'), exposed: ['0.0.0.0:8080', '[::]:9090'] }],
      appPortLock: { requested: true, lockedPorts: [8080] },
    };
    const [row] = workloadStatusRows([w], [{ ...proxy, plaintextConnections: { http: 3 } }], 0);
    assert.deepEqual(row?.ports, [
      { name: 'http', mtls: 'PERMISSIVE', plaintextConnections: 3 },
      { name: 'grpc', mtls: 'STRICT', plaintextConnections: null },
      { name: 'admin', mtls: 'PERMISSIVE', plaintextConnections: null },
    ]);
    assert.deepEqual(row?.exposed, [
      { address: '0.0.0.0:8080', closed: true },
      { address: '[::]:9090', closed: false },
    ]);
  });

  it('a replica whose proxy never connected: workload identity, nulls, not connected; an expired certificate is negative', () => {
    const rows = workloadStatusRows([b], [proxy], Date.parse('2030-01-01T00:02:00.000Z'));
    assert.equal(rows[0]!.certExpiresInSeconds, -30);
    const r1 = rows[1]!;
    assert.deepEqual(
      [r1.nodeId, r1.state, r1.identity, r1.certNotAfter, r1.certExpiresInSeconds, r1.configVersion, r1.ackedVersion, r1.nack, r1.connected],
      ['default/b/1', 'starting', b.identity, null, null, null, null, null, false],
    );
  });
});
