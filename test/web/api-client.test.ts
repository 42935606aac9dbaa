import { test } from 'node:test';
import assert from 'node:assert/strict';
import { API_BASE, tapUrl } from '../../web/src/lib/api-client.js';

test('tapUrl: the tap stream under the API, empty filters left out, values encoded', () => {
  assert.equal(tapUrl({}), `${API_BASE}/tap?`);
  assert.equal(tapUrl({ workload: 'default/web', method: '', path: '/api?x', status: '5xx' }), `${API_BASE}/tap?workload=default%2Fweb&path=%2Fapi%3Fx&status=5xx`);
});
