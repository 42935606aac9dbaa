import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppPortLockReport, ReplicaReport, WorkloadView } from '../../api/registry.js';
import { BYPASS_CHECK, bypassCheck } from './bypass.js';

const replica = (n: number, exposed?: string[]): ReplicaReport => ({
  replica: n,
  nodeId: `default/w/${n}`,
  state: 'ready',
  restarts: 0,
  appPid: 10 + n,
  proxyPid: 20 + n,
  adminUrl: '',
  endpoints: [],
  ...(exposed !== undefined ? { exposed } : {}),
  lastExit: null,
});

const workload = (name: string, replicas: ReplicaReport[], lock?: AppPortLockReport): WorkloadView => ({
  namespace: 'default',
  name,
  service: name,
  serviceAccount: name,
  ports: [{ name: 'http', protocol: 'http' }],
  upstreams: [],
  ingress: false,
  replicas,
  agentId: 'h1',
  identity: `spiffe://td/ns/default/sa/${name}`,
  ...(lock !== undefined ? { appPortLock: lock } : {}),
});

test('passes when every app listens on loopback only', () => {
  assert.deepEqual(bypassCheck([workload('orders', [replica(0), replica(1, [])])]), { name: BYPASS_CHECK, ok: true, detail: 'every app listens on loopback only' });
});

test('fails naming the workload and each address once, with what to do', () => {
  const r = bypassCheck([workload('orders', [replica(0, ['0.0.0.0:8080']), replica(1, ['0.0.0.0:8080', '[::]:9090'])], { requested: false, lockedPorts: [] })]);
  assert.equal(r.ok, false);
  assert.equal(
    r.detail,
    'orders: app listens on 0.0.0.0:8080, reachable without mTLS (listen on 127.0.0.1, or set spec.mtls.lockAppPorts: true); ' +
      'orders: app listens on [::]:9090, reachable without mTLS (listen on 127.0.0.1, or set spec.mtls.lockAppPorts: true)',
  );
});

test('says why the lock cannot close it on this host, asked for or not', () => {
  const notRoot = { requested: false, lockedPorts: [], unavailable: 'the agent is not running as root' };
  assert.match(bypassCheck([workload('orders', [replica(0, ['0.0.0.0:8080'])], notRoot)]).detail, /\(listen on 127\.0\.0\.1 \(lockAppPorts cannot close it here: the agent is not running as root\)\)/);
  const asked = { ...notRoot, requested: true };
  assert.match(bypassCheck([workload('orders', [replica(0, ['0.0.0.0:8080'])], asked)]).detail, /\(lockAppPorts cannot close it: the agent is not running as root\)$/);
});

test('a listener whose port the agent locked passes, and is counted', () => {
  const lock = { requested: true, lockedPorts: [8080] };
  const r = bypassCheck([workload('orders', [replica(0, ['0.0.0.0:8080', '[::]:8080'])], lock)]);
  assert.deepEqual(r, { name: BYPASS_CHECK, ok: true, detail: "2 app listener(s) beyond loopback, each closed by the agent's nftables rules (lockAppPorts)" });
  assert.equal(bypassCheck([workload('orders', [replica(0, ['0.0.0.0:9090'])], lock)]).ok, false);
});
