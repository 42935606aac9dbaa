/**
 * HTTP/1.1 through two proxies: test (as app a) -> a's outbound listener -> mTLS -> b's inbound
 * listener -> b's http echo. Also app a calling b through its B_ADDR (reached via ingress).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { request, type Agent } from 'undici';
import WebSocket from 'ws';
import { freePort } from '../helpers/proc.js';
import { httpAgent, startMesh, type Mesh } from '../helpers/mesh.js';
import { pairMesh, spiffeId } from '../helpers/meshes.js';

interface Echo {
  workload: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  bodyLength: number;
  bodySha256: string;
}

const MIB = 1024 * 1024;

describe('http1 through an outbound and an inbound proxy', () => {
  let mesh: Mesh | undefined;
  let agent: Agent;
  let base: string;

  before(async () => {
    agent = httpAgent();
    const outPort = await freePort();
    base = `http://127.0.0.1:${outPort}`;
    mesh = await startMesh({
      meshYaml: pairMesh({
        name: 'it-http1',
        protocol: 'http',
        serverCommand: ['node', 'http-echo.mjs'],
        outPort,
        clientCommand: ['node', 'caller.mjs'],
        ingressToA: true,
      }),
    });
  });

  after(async () => {
    await agent?.close();
    await mesh?.stop();
  });

  async function getJson(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Echo; reason: unknown }> {
    const res = await request(`${base}${path}`, { dispatcher: agent, headers });
    const text = await res.body.text();
    assert.equal(res.statusCode, 200, `GET ${path}: ${res.statusCode} trellis-reason=${String(res.headers['trellis-reason'])} ${text}`);
    return { status: res.statusCode, body: JSON.parse(text) as Echo, reason: res.headers['trellis-reason'] };
  }

  it('GET reaches b with path, query and headers, and b sees a\'s SPIFFE ID', async () => {
    const { body, reason } = await getJson('/hello/world?x=1&y=two', { 'x-test': 'abc' });
    assert.equal(body.workload, 'b');
    assert.equal(body.method, 'GET');
    assert.equal(body.path, '/hello/world?x=1&y=two');
    assert.equal(body.headers['x-test'], 'abc');
    assert.equal(body.headers['trellis-peer-identity'], spiffeId('a'));
    assert.equal(reason, undefined, 'an app response carries no trellis-reason');
  });

  it('a trellis-peer-identity sent by the caller is replaced by the inbound proxy', async () => {
    const { body } = await getJson('/spoof', { 'trellis-peer-identity': 'spiffe://evil.example/ns/x/sa/admin' });
    assert.equal(body.headers['trellis-peer-identity'], spiffeId('a'));
  });

  it('an app status passes through unchanged and without trellis-reason', async () => {
    const res = await request(`${base}/status/503`, { dispatcher: agent });
    assert.equal(res.statusCode, 503);
    assert.equal(await res.body.text(), 'status 503\n');
    assert.equal(res.headers['trellis-reason'], undefined);
  });

  it('POST with a body: length and sha256 arrive intact', async () => {
    const payload = randomBytes(100_000);
    const res = await request(`${base}/upload`, { method: 'POST', dispatcher: agent, body: payload, headers: { 'content-type': 'application/octet-stream' } });
    const body = (await res.body.json()) as Echo;
    assert.equal(res.statusCode, 200);
    assert.equal(body.method, 'POST');
    assert.equal(body.bodyLength, payload.length);
    assert.equal(body.bodySha256, createHash('sha256').update(payload).digest('hex'));
  });

  it('a 50 MiB request body streamed with chunked transfer-coding arrives intact', async () => {
    const block = randomBytes(MIB);
    const hash = createHash('sha256');
    for (let i = 0; i < 50; i++) hash.update(block);
    const expected = hash.digest('hex');
    const source = Readable.from((function* () {
      for (let i = 0; i < 50; i++) yield block;
    })());
    const res = await request(`${base}/big-upload`, { method: 'POST', dispatcher: agent, body: source, headersTimeout: 120_000, bodyTimeout: 120_000 });
    const text = await res.body.text();
    assert.equal(res.statusCode, 200, text);
    const body = JSON.parse(text) as Echo;
    assert.equal(body.headers['transfer-encoding'], 'chunked');
    assert.equal(body.bodyLength, 50 * MIB);
    assert.equal(body.bodySha256, expected);
  });

  for (const chunked of [false, true]) {
    it(`a 50 MiB response body (${chunked ? 'chunked' : 'content-length'}) arrives intact`, async () => {
      const res = await request(`${base}/big?mib=50${chunked ? '&chunked=1' : ''}`, { dispatcher: agent, headersTimeout: 120_000, bodyTimeout: 120_000 });
      assert.equal(res.statusCode, 200);
      const hash = createHash('sha256');
      let length = 0;
      for await (const chunk of res.body) {
        hash.update(chunk as Buffer);
        length += (chunk as Buffer).length;
      }
      assert.equal(length, 50 * MIB);
      assert.equal(hash.digest('hex'), res.headers['x-body-sha256']);
      if (!chunked) assert.equal(res.headers['content-length'], String(50 * MIB));
    });
  }

  it('a chunked response written in pieces arrives whole', async () => {
    const res = await request(`${base}/chunked`, { dispatcher: agent });
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), 'chunk-0\nchunk-1\nchunk-2\nchunk-3\nchunk-4\n');
  });

  it('keep-alive: sequential requests reuse one client connection', async () => {
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const ports: number[] = [];
      const reused: boolean[] = [];
      for (let i = 0; i < 5; i++) {
        await new Promise<void>((resolve, reject) => {
          const req = http.get(`${base}/ka/${i}`, { agent: keepAlive }, (res) => {
            ports.push(res.socket.localPort ?? -1);
            res.resume();
            res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
          });
          req.on('error', reject);
          reused.push(req.reusedSocket);
        });
      }
      assert.deepEqual(reused, [false, true, true, true, true]);
      assert.equal(new Set(ports).size, 1, `local ports used: ${ports.join(',')}`);
    } finally {
      keepAlive.destroy();
    }
  });

  it('app a reaches b through its B_ADDR (via the ingress), and b sees a\'s identity', async () => {
    const ingress = mesh!.ingress['edge'];
    assert.ok(ingress, `ready line has ingress.edge: ${mesh!.readyLine}`);
    const res = await request(`${ingress}/call?path=${encodeURIComponent('/via-a?z=1')}`, { dispatcher: agent });
    const text = await res.body.text();
    assert.equal(res.statusCode, 200, text);
    const result = JSON.parse(text) as { upstreamAddr: string; status: number; body: Echo };
    assert.equal(result.upstreamAddr, base.slice('http://'.length));
    assert.equal(result.status, 200);
    assert.equal(result.body.workload, 'b');
    assert.equal(result.body.path, '/via-a?z=1');
    assert.equal(result.body.headers['trellis-peer-identity'], spiffeId('a'));
  });

  it('a WebSocket echoes text and binary messages through the mesh', async () => {
    const ws = new WebSocket(`${base.replace('http:', 'ws:')}/ws`);
    const received: { data: Buffer; isBinary: boolean }[] = [];
    const waiters: (() => void)[] = [];
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      received.push({ data, isBinary });
      waiters.shift()?.();
    });
    const next = async (): Promise<{ data: Buffer; isBinary: boolean }> => {
      if (received.length === 0) {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no WebSocket message within 10 s')), 10_000);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return received.shift()!;
    };
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
        ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode} trellis-reason=${String(res.headers['trellis-reason'])}`)));
      });
      const hello = JSON.parse((await next()).data.toString('utf8')) as { hello: string; peer: string };
      assert.deepEqual(hello, { hello: 'b', peer: spiffeId('a') });
      ws.send('ping-1');
      const text = await next();
      assert.equal(text.isBinary, false);
      assert.equal(text.data.toString('utf8'), 'ping-1');
      const blob = randomBytes(256 * 1024);
      ws.send(blob);
      const bin = await next();
      assert.equal(bin.isBinary, true);
      assert.ok(bin.data.equals(blob), 'binary echo differs');
    } finally {
      ws.terminate();
    }
  });
});
