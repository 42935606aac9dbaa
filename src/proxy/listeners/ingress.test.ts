import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { TestHpackEncoder } from '../http2/field-guard/hpack-test-encoder.js';
import { ErrorCode, errorCodeOf, FrameType, headersFrame, RawH2Client } from '../http2/raw-h2.js';
import type { RawFrame } from '../http2/raw-h2.js';
import type { ProxyRuntime } from '../runtime.js';
import { bootstrap, cluster, endpoint, id, portOf, runtime, snapshot, testPki } from '../testing/fixtures.js';
import type { TestPki } from '../testing/fixtures.js';

// Hostile input at the ingress, over real sockets: what a client outside the mesh may not do.
// The ingress is an outbound listener marked `ingress`, in front of a backend's proxy over mTLS.

let pki: TestPki;
const seen: { method: string; path: string; headers: http.IncomingHttpHeaders; raw: string }[] = [];
let rawBytes = 0;
let app: http.Server;
let h2app: http2.Http2Server;
let backend: ProxyRuntime;
let ingress: ProxyRuntime;
let sidecar: ProxyRuntime;

function listenOn(server: net.Server | http.Server | http2.Http2Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

before(async () => {
  pki = await testPki();
  app = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, raw: '' });
    res.end('ok');
  });
  // Counts every byte the app is sent: a tunnel would let raw bytes through.
  app.on('connection', (s: net.Socket) => s.on('data', (d: Buffer) => (rawBytes += d.length)));
  h2app = http2.createServer();
  h2app.on('stream', (stream, headers) => {
    seen.push({ method: String(headers[':method']), path: String(headers[':path']), headers: headers as http.IncomingHttpHeaders, raw: '' });
    stream.respond({ ':status': 200 });
    stream.end('ok');
  });
  const appPort = await listenOn(app);
  const h2Port = await listenOn(h2app);
  backend = await runtime(
    pki,
    bootstrap(id('web'), [
      { name: 'http', protocol: 'http', listen: { host: '127.0.0.1', port: 0 }, app: { host: '127.0.0.1', port: appPort } },
      { name: 'h2', protocol: 'http2', listen: { host: '127.0.0.1', port: 0 }, app: { host: '127.0.0.1', port: h2Port } },
    ], []),
  );
  assert.equal(backend.applySnapshot(snapshot(1, pki, [])), null);
  await backend.startListeners();
  const clusters = [
    cluster('default/web:http', 'http', [endpoint(portOf(backend, 'http', 'inbound'), id('web'))]),
    cluster('default/web:h2', 'http2', [endpoint(portOf(backend, 'h2', 'inbound'), id('web'))]),
  ];
  const listeners = (ingressFlag: boolean) => [
    { name: 'web', protocol: 'http' as const, listen: { host: '127.0.0.1', port: 0 }, cluster: 'default/web:http', ingress: ingressFlag },
    { name: 'web-h2', protocol: 'http2' as const, listen: { host: '127.0.0.1', port: 0 }, cluster: 'default/web:h2', ingress: ingressFlag },
  ];
  ingress = await runtime(pki, bootstrap(id('edge'), [], listeners(true)));
  assert.equal(ingress.applySnapshot(snapshot(1, pki, clusters)), null);
  await ingress.startListeners();
  sidecar = await runtime(pki, bootstrap(id('caller'), [], listeners(false)));
  assert.equal(sidecar.applySnapshot(snapshot(1, pki, clusters)), null);
  await sidecar.startListeners();
});

after(async () => {
  ingress.close();
  sidecar.close();
  backend.close();
  app.close();
  app.closeAllConnections();
  h2app.close();
  await pki.cleanup();
});

function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString('latin1')));
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
    s.write(text);
    setTimeout(() => s.destroy(), 500);
  });
}

describe('the ingress owns the forwarding headers', () => {
  test('HTTP/1: client-sent forwarding, XFCC and trellis-* headers never reach the app; the ingress sets what it saw', async () => {
    seen.length = 0;
    const res = await rawRequest(portOf(ingress, 'web', 'outbound'),
      'GET /who HTTP/1.1\r\nHost: web\r\nX-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nX-Forwarded-Proto: https\r\n' +
      'X-Forwarded-Host: evil\r\nX-Real-IP: 6.6.6.6\r\nX-Forwarded-Client-Cert: By=spiffe://evil\r\nTrellis-Peer-Identity: spiffe://evil/ns/x/sa/y\r\n' +
      'Trellis-Anything: 1\r\nConnection: close\r\n\r\n');
    assert.match(res, /^HTTP\/1\.1 200 /);
    const h = seen[0]!.headers;
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h.forwarded, undefined);
    assert.equal(h['x-forwarded-host'], undefined);
    assert.equal(h['x-real-ip'], undefined);
    assert.equal(h['x-forwarded-client-cert'], undefined);
    assert.equal(h['trellis-anything'], undefined);
    assert.equal(h['trellis-peer-identity'], id('edge'), 'the backend sets the verified caller: the ingress');
  });

  test('HTTP/2: the same', async () => {
    seen.length = 0;
    const session = http2.connect(`http://127.0.0.1:${portOf(ingress, 'web-h2', 'outbound')}`);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const s = session.request({ ':path': '/who', 'x-forwarded-for': '6.6.6.6', forwarded: 'for=6.6.6.6', 'x-forwarded-client-cert': 'By=x', 'trellis-peer-identity': 'spiffe://evil/ns/x/sa/y' });
        s.on('response', (h) => resolve(Number(h[':status'])));
        s.on('error', reject);
        s.resume();
        s.end();
      });
      assert.equal(status, 200);
    } finally {
      session.close();
    }
    const h = seen[0]!.headers;
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h.forwarded, undefined);
    assert.equal(h['x-forwarded-client-cert'], undefined);
    assert.equal(h['trellis-peer-identity'], id('edge'));
  });

  test('a sidecar passes an app\'s forwarding headers on (they come from inside the mesh)', async () => {
    seen.length = 0;
    await rawRequest(portOf(sidecar, 'web', 'outbound'), 'GET / HTTP/1.1\r\nHost: web\r\nX-Forwarded-For: 10.0.0.7\r\nConnection: close\r\n\r\n');
    assert.equal(seen[0]!.headers['x-forwarded-for'], '10.0.0.7');
  });
});

describe('CONNECT does not open a tunnel', () => {
  for (const target of ['web:80', '127.0.0.1:22']) {
    test(`CONNECT ${target} is refused with 405 connect-refused and no byte reaches the app`, async () => {
      seen.length = 0;
      const before = rawBytes;
      const res = await rawRequest(portOf(ingress, 'web', 'outbound'), `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\nSSH-2.0-raw-bytes-after-connect\r\n`);
      assert.match(res, /^HTTP\/1\.1 405 /);
      assert.match(res, /trellis-reason: connect-refused/);
      assert.equal(seen.length, 0);
      assert.equal(rawBytes, before);
    });
  }
});

describe('HTTP/2 limits at the listeners', () => {
  test('the ingress advertises 100 concurrent streams, a sidecar 1024', async () => {
    for (const [rt, want] of [[ingress, 100], [sidecar, 1024]] as const) {
      const c = await RawH2Client.connect(portOf(rt, 'web-h2', 'outbound'));
      try {
        const settings = await c.waitFor((f) => f.type === FrameType.Settings && (f.flags & 1) === 0);
        assert.equal(settingOf(settings, 0x3), want);
      } finally {
        c.destroy();
      }
    }
  });

  test('at the ingress a field with CR LF is a malformed request: the stream is reset, the app never sees it', async () => {
    seen.length = 0;
    const c = await RawH2Client.connect(portOf(ingress, 'web-h2', 'outbound'));
    try {
      const enc = new TestHpackEncoder();
      const req = [
        { name: ':method', value: 'GET' },
        { name: ':scheme', value: 'http' },
        { name: ':path', value: '/smuggle' },
        { name: ':authority', value: 'web' },
      ];
      c.write(headersFrame(1, enc.encode([...req, { name: 'x-a', value: 'a\r\nx-injected: 1' }]), { endStream: true }));
      c.write(headersFrame(3, enc.encode([...req, { name: 'x-a', value: 'a\0b', huffman: true }]), { endStream: true }));
      for (const sid of [1, 3]) {
        const answer = await c.waitFor((f: RawFrame) => f.streamId === sid && (f.type === FrameType.RstStream || f.type === FrameType.Headers));
        assert.equal(answer.type, FrameType.RstStream);
        assert.equal(errorCodeOf(answer), ErrorCode.ProtocolError);
      }
      assert.equal(seen.length, 0);
    } finally {
      c.destroy();
    }
  });
});

function settingOf(f: RawFrame, id: number): number | undefined {
  for (let i = 0; i + 6 <= f.payload.length; i += 6) if (f.payload.readUInt16BE(i) === id) return f.payload.readUInt32BE(i + 2);
  return undefined;
}
