import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { TraceSpanView, TraceView } from '../../api/traces.js';
import { mergeTrace, peerSpans } from './peer-traces.js';

const TRACE = 'ab'.repeat(16);
const span = (spanId: string, startMs: number, service = 'web'): TraceSpanView => ({
  traceId: TRACE,
  spanId,
  service,
  name: 'GET web',
  kind: 'server',
  startTimeUnixNano: String(startMs * 1e6),
  endTimeUnixNano: String((startMs + 1) * 1e6),
  startMs,
  durationMs: 1,
  status: 'unset',
  attributes: {},
});

describe('a trace merged across control-plane replicas', () => {
  let server: Server;
  let url = '';
  const asked: { path: string; auth: string | undefined }[] = [];
  before(async () => {
    server = createServer((req, res) => {
      asked.push({ path: req.url ?? '', auth: req.headers.authorization });
      if (req.headers.authorization !== 'Bearer read-token') return void res.writeHead(401).end();
      if (!(req.url ?? '').startsWith(`/api/v1/traces/${TRACE}?local=1`)) return void res.writeHead(404).end();
      const view: TraceView = { traceId: TRACE, spans: [span('b', 20), span('a', 10, 'client')] };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(view));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('asks each peer for its own spans only, with the read credential; a dead peer adds nothing', async () => {
    const spans = await peerSpans(TRACE, { peers: [url, 'http://127.0.0.1:1'], token: 'read-token', trustBundlePem: [] });
    assert.deepEqual(spans.map((s) => s.spanId), ['b', 'a']);
    assert.deepEqual(asked, [{ path: `/api/v1/traces/${TRACE}?local=1`, auth: 'Bearer read-token' }]);
  });

  it('merges each span once, by start time; nothing anywhere is no trace', () => {
    const local: TraceView = { traceId: TRACE, spans: [span('c', 15), span('a', 10, 'client')] };
    assert.deepEqual(mergeTrace(TRACE, local, [span('b', 20), span('a', 10, 'client')])?.spans.map((s) => s.spanId), ['a', 'c', 'b']);
    assert.deepEqual(mergeTrace(TRACE.toUpperCase(), undefined, [span('b', 20)])?.traceId, TRACE);
    assert.equal(mergeTrace(TRACE, undefined, []), undefined);
  });
});
