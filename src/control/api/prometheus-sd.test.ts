import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PrometheusTargetGroup, ReplicaReport } from '../../api/registry.js';
import type { ControlPlane } from '../control-plane.js';
import { agentReport, api, useControlPlane, workload } from '../test-support.js';

const fixture = useControlPlane();
/** The file's control plane (started in before()). */
const cpOf = (): ControlPlane => fixture.cp;

test('GET /api/v1/prometheus/targets: one http_sd group per proxy admin listener, stopped and unknown left out', async () => {
  const web = workload('web', { readyPorts: [20001, 20002, 20003, 20004] });
  const set = (i: number, over: Partial<ReplicaReport>): void => {
    Object.assign(web.replicas[i]!, over);
  };
  set(0, { adminUrl: 'http://127.0.0.1:15101' });
  set(1, { adminUrl: 'http://127.0.0.1:15102', state: 'crashed' });
  set(2, { adminUrl: 'http://127.0.0.1:15103', state: 'stopped' });
  set(3, { adminUrl: '' });
  const edge = workload('edge', { ingress: true, serviceAccount: 'edge-sa', readyPorts: [20010] });
  edge.replicas[0]!.adminUrl = 'http://127.0.0.1:15110/';
  assert.equal((await api(cpOf(), 'PUT', '/api/v1/agents/a1', agentReport('a1', [web, edge]))).status, 200);

  const r = await api(cpOf(), 'GET', '/api/v1/prometheus/targets');
  assert.equal(r.status, 200);
  const groups = r.json as PrometheusTargetGroup[];
  assert.deepEqual(groups, [
    {
      targets: ['127.0.0.1:15110'],
      labels: {
        trellis_namespace: 'default',
        trellis_workload: 'edge',
        trellis_service: 'edge',
        trellis_service_account: 'edge-sa',
        trellis_replica: '0',
        trellis_node_id: 'default/edge/0',
        trellis_ingress: 'true',
      },
    },
    {
      targets: ['127.0.0.1:15101'],
      labels: {
        trellis_namespace: 'default',
        trellis_workload: 'web',
        trellis_service: 'web',
        trellis_service_account: 'web',
        trellis_replica: '0',
        trellis_node_id: 'default/web/0',
        trellis_ingress: 'false',
      },
    },
    {
      targets: ['127.0.0.1:15102'],
      labels: {
        trellis_namespace: 'default',
        trellis_workload: 'web',
        trellis_service: 'web',
        trellis_service_account: 'web',
        trellis_replica: '1',
        trellis_node_id: 'default/web/1',
        trellis_ingress: 'false',
      },
    },
  ]);
  assert.equal((await api(cpOf(), 'DELETE', '/api/v1/agents/a1')).status, 200);
  assert.deepEqual((await api(cpOf(), 'GET', '/api/v1/prometheus/targets')).json, []);
  assert.equal((await api(cpOf(), 'GET', '/api/v1/prometheus/nope')).status, 404);
});
