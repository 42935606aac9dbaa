import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { WorkloadView } from '../../api/registry.js';
import type { HttpError } from '../api/http-error.js';
import { proxyMetrics } from './proxy-metrics.js';

const view = (nodeId: string, adminUrl: string, state = 'ready'): WorkloadView => ({ name: 'web', replicas: [{ nodeId, adminUrl, state }] }) as unknown as WorkloadView;

describe('a proxy\'s /metrics relayed by the control plane', () => {
  let admin: Server;
  let url = '';
  before(async () => {
    admin = createServer((req, res) => {
      if (req.url === '/metrics') res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end('trellis_requests_total 3\n');
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => admin.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(admin.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => admin.close(() => r())));

  it('answers what the proxy\'s admin listener sent, through the dispatcher picked for its URL', async () => {
    const asked: string[] = [];
    const m = await proxyMetrics([view('default/web/0', url)], 'default/web/0', (u) => (asked.push(u), undefined));
    assert.deepEqual(m, { contentType: 'text/plain; version=0.0.4', body: 'trellis_requests_total 3\n' });
    assert.deepEqual(asked, [`${url}/metrics`]);
  });

  it('404 for an unknown, stopped or admin-less proxy; 502 when it does not answer', async () => {
    const status = async (ws: WorkloadView[]): Promise<number> => proxyMetrics(ws, 'default/web/0', () => undefined, 1000).then(() => 200, (e: HttpError) => e.status);
    assert.equal(await status([]), 404);
    assert.equal(await status([view('default/web/0', url, 'stopped')]), 404);
    assert.equal(await status([view('default/web/0', '')]), 404);
    assert.equal(await status([view('default/web/0', 'http://127.0.0.1:1')]), 502);
  });
});
