import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { scrapeTargets } from './scrape.js';

const TEXT = [
  '# TYPE trellis_requests_total counter',
  'trellis_requests_total{direction="inbound",dst_service="b"} 3',
  'trellis_request_duration_seconds_bucket{direction="inbound",dst_service="b",le="+Inf"} 3',
  'trellis_tcp_connections_opened_total{direction="outbound",listener="inventory-tcp"} 9',
  'trellis_tcp_connections_active{direction="outbound",listener="inventory-tcp"} 1',
  'trellis_tcp_bytes_total{direction="outbound",listener="inventory-tcp",flow="rx"} 120',
  'trellis_retries_total{direction="outbound"} 2',
  'process_uptime_seconds 4',
].join('\n');

describe('scrapeTargets', () => {
  let server: Server;
  let good = '';
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/metrics') res.writeHead(200).end(TEXT);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    good = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('keeps only the request series and the TCP counters, with the target labels; an unreachable target is reported and left out', async () => {
    const errors: string[] = [];
    const scrapes = await scrapeTargets(
      [
        { targets: [good], labels: { trellis_workload: 'b' } },
        { targets: ['127.0.0.1:1'], labels: { trellis_workload: 'gone' } },
      ],
      (target) => errors.push(target),
    );
    assert.deepEqual(errors, ['127.0.0.1:1']);
    assert.equal(scrapes.length, 1);
    assert.deepEqual(scrapes[0]!.targetLabels, { trellis_workload: 'b' });
    assert.deepEqual(scrapes[0]!.samples.map((s) => [s.name, s.value]), [
      ['trellis_requests_total', 3],
      ['trellis_request_duration_seconds_bucket', 3],
      ['trellis_tcp_connections_opened_total', 9],
      ['trellis_tcp_bytes_total', 120],
    ]);
  });
});
