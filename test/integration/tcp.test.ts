/** Opaque TCP through two proxies: a's outbound listener -> mTLS -> b's inbound -> tcp echo. */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../helpers/proc.js';
import { startMesh, type Mesh } from '../helpers/mesh.js';
import { pairMesh, spiffeId } from '../helpers/meshes.js';
import { request } from 'undici';
import type { TraceSpanView, TraceSummaryView, TraceView } from '../../src/api/traces.js';

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('tcp through an outbound and an inbound proxy', () => {
  let mesh: Mesh | undefined;
  let outPort: number;

  before(async () => {
    outPort = await freePort();
    // Every connection traced: the last test finds the relays' spans at the control plane.
    mesh = await startMesh({ meshYaml: pairMesh({ name: 'it-tcp', protocol: 'tcp', serverCommand: ['node', 'tcp-echo.mjs'], outPort, tracingSampling: 1 }) });
  });

  after(async () => {
    await mesh?.stop();
  });

  it('echoes 4 MiB byte for byte, then closes after the half-close', async () => {
    const payload = randomBytes(4 * 1024 * 1024);
    const socket = await connect(outPort);
    const hash = createHash('sha256');
    let length = 0;
    const done = new Promise<void>((resolve, reject) => {
      socket.on('data', (d: Buffer) => {
        hash.update(d);
        length += d.length;
      });
      socket.on('end', resolve);
      socket.on('error', reject);
    });
    // Write in 64 KiB pieces, then half-close: the echo ends its side after echoing everything.
    for (let off = 0; off < payload.length; off += 65536) {
      if (!socket.write(payload.subarray(off, off + 65536))) await new Promise((r) => socket.once('drain', r));
    }
    socket.end();
    await done;
    socket.destroy();
    assert.equal(length, payload.length);
    assert.equal(hash.digest('hex'), createHash('sha256').update(payload).digest('hex'));
  });

  it('ping-pong: each line comes back before the next is sent (no buffering until close)', async () => {
    const socket = await connect(outPort);
    try {
      let buffered = '';
      const waiters: (() => void)[] = [];
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => {
        buffered += d;
        if (buffered.includes('\n')) waiters.shift()?.();
      });
      for (let i = 0; i < 20; i++) {
        const back = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`line ${i} not echoed within 10 s`)), 10_000);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
        socket.write(`line ${i}\n`);
        await back;
        assert.equal(buffered, `line ${i}\n`);
        buffered = '';
      }
    } finally {
      socket.destroy();
    }
  });

  it('each relayed connection is a span on both proxies (client on a, server on b), with its byte counts', async () => {
    const socket = await connect(outPort);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.resume();
    socket.end('span me\n');
    await closed;
    // Spans reach the control plane in the proxies' next export batch.
    const deadline = Date.now() + 20_000;
    let spans: TraceSpanView[] = [];
    while (Date.now() < deadline) {
      const recent = (await (await request(`${mesh!.apiUrl}/api/v1/traces?limit=1000`, { headers: mesh!.authHeaders() })).body.json()) as TraceSummaryView[];
      const tcp = recent.filter((t) => t.rootName === 'tcp b');
      spans = [];
      for (const t of tcp) spans.push(...((await (await request(`${mesh!.apiUrl}/api/v1/traces/${t.traceId}`, { headers: mesh!.authHeaders() })).body.json()) as TraceView).spans);
      // The small connection: 8 bytes each way (earlier tests' connections moved more).
      spans = spans.filter((s) => s.attributes['trellis.bytes_in'] === 8 || s.attributes['trellis.bytes_out'] === 8);
      if (spans.some((s) => s.kind === 'client') && spans.some((s) => s.kind === 'server')) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const client = spans.find((s) => s.kind === 'client');
    const server = spans.find((s) => s.kind === 'server');
    assert.ok(client && server, `tcp spans of both proxies, got ${JSON.stringify(spans)}`);
    assert.equal(client.service, 'a');
    assert.equal(server.service, 'b');
    assert.equal(client.parentSpanId, undefined);
    assert.equal(client.attributes['network.transport'], 'tcp');
    assert.equal(client.attributes['server.address'], 'b');
    assert.equal(client.attributes['trellis.bytes_in'], 8);
    assert.equal(client.attributes['trellis.bytes_out'], 8);
    assert.equal(server.attributes['trellis.peer.identity'], spiffeId('a'));
  });
});
