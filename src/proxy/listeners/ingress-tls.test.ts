import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { Agent, request } from 'undici';
import { TestHpackEncoder } from '../http2/field-guard/hpack-test-encoder.js';
import { ErrorCode, errorCodeOf, FrameType, headersFrame, RawH2Client } from '../http2/raw-h2.js';
import type { RawFrame } from '../http2/raw-h2.js';
import { EchoClient, ingressTlsFixture } from '../testing/ingress-tls-fixture.js';
import type { IngressTlsFixture, Msg } from '../testing/ingress-tls-fixture.js';

// Ingress TLS over real sockets (loopback): HTTPS, HTTP/2 and gRPC through a TLS ingress,
// SNI, the plain listener beside it, and hostile bytes at the TLS port.

let f: IngressTlsFixture;

before(async () => {
  f = await ingressTlsFixture({ handshakeTimeoutMs: 2_000 });
});

after(async () => {
  await f.close();
});

/** Opens a TLS connection and returns what the handshake chose (serial, ALPN). */
function handshake(port: number, opts: tls.ConnectionOptions): Promise<{ serial: string; alpn: string | false | null; socket: tls.TLSSocket }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: f.webCa.certPem, ...opts }, () => {
      resolve({ serial: socket.getPeerX509Certificate()?.serialNumber.toLowerCase() ?? '', alpn: socket.alpnProtocol, socket });
    });
    socket.once('error', reject);
  });
}

async function servedSerial(port: number, servername: string | undefined): Promise<string> {
  // An IP address as host sends no SNI; `servername` adds one. Names are checked by hand here.
  const h = await handshake(port, { ...(servername !== undefined ? { servername } : {}), checkServerIdentity: () => undefined });
  h.socket.destroy();
  return h.serial;
}

describe('HTTPS through the ingress', () => {
  test('undici, trusting the test CA, gets the app over HTTP/1.1; the app sees x-forwarded-proto https', async () => {
    const agent = new Agent({ connect: { ca: f.webCa.certPem, servername: 'a.test' } });
    try {
      const res = await request(`https://127.0.0.1:${f.port('web-tls')}/hello?x=1`, { dispatcher: agent, headers: { 'x-forwarded-proto': 'http' } });
      assert.equal(res.statusCode, 200);
      const body = (await res.body.json()) as { path: string; proto: string; httpVersion: string };
      assert.deepEqual(body, { path: '/hello?x=1', proto: 'https', httpVersion: '1.1' }, 'the client-sent x-forwarded-proto is replaced by what the ingress saw');
    } finally {
      await agent.close();
    }
  });

  test('SNI picks the certificate of each host name; no SNI or an unknown name gets the first (default) one', async () => {
    const port = f.port('web-tls');
    assert.equal(await servedSerial(port, 'a.test'), f.serials.a);
    assert.equal(await servedSerial(port, 'b.test'), f.serials.b);
    assert.equal(await servedSerial(port, 'B.Test'), f.serials.b, 'host names are case-insensitive');
    assert.equal(await servedSerial(port, 'x.b.test'), f.serials.b, 'the wildcard *.b.test');
    assert.equal(await servedSerial(port, 'unknown.test'), f.serials.a);
    assert.equal(await servedSerial(port, undefined), f.serials.a);
    // And a client that checks the name accepts b.test's certificate for b.test.
    const agent = new Agent({ connect: { ca: f.webCa.certPem, servername: 'b.test' } });
    try {
      const res = await request(`https://127.0.0.1:${port}/b`, { dispatcher: agent });
      assert.equal(res.statusCode, 200);
      await res.body.dump();
    } finally {
      await agent.close();
    }
  });

  test('the TLS listener refuses TLS 1.1 and below', async () => {
    await assert.rejects(handshake(f.port('web-tls'), { servername: 'a.test', minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }));
  });
});

test('a TLS 1.2 client cannot renegotiate (the ingress refuses; TLS 1.3 has no renegotiation at all)', async () => {
  const h = await handshake(f.port('web-tls'), { servername: 'a.test', maxVersion: 'TLSv1.2' });
  try {
    const outcome = await new Promise<string>((resolve) => {
      h.socket.once('close', () => resolve('closed'));
      const asked = h.socket.renegotiate({ rejectUnauthorized: false }, (err) => resolve(err === null ? 'renegotiated' : `refused: ${err.message}`));
      if (!asked) resolve('refused locally');
      // A read is needed for the server's answer to arrive.
      h.socket.write('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n');
    });
    assert.notEqual(outcome, 'renegotiated', outcome);
  } finally {
    h.socket.destroy();
  }
});

describe('HTTP/2 and gRPC over TLS', () => {
  test('ALPN: an HTTP/2 port negotiates h2; an HTTP/1 port answers http/1.1 to a client that offers both', async () => {
    const h2 = await handshake(f.port('h2-tls'), { servername: 'a.test', ALPNProtocols: ['h2', 'http/1.1'] });
    h2.socket.destroy();
    assert.equal(h2.alpn, 'h2');
    const h1 = await handshake(f.port('web-tls'), { servername: 'a.test', ALPNProtocols: ['h2', 'http/1.1'] });
    h1.socket.destroy();
    assert.equal(h1.alpn, 'http/1.1');
  });

  test('an HTTP/2 request over TLS reaches the HTTP/2 app', async () => {
    const session = http2.connect(`https://127.0.0.1:${f.port('h2-tls')}`, { ca: f.webCa.certPem, servername: 'a.test' });
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const req = session.request({ ':path': '/over-h2', ':authority': 'a.test' });
        let out = '';
        req.setEncoding('utf8');
        req.on('data', (d: string) => (out += d));
        req.on('end', () => resolve(out));
        req.on('error', reject);
        req.end();
      });
      assert.equal(session.alpnProtocol, 'h2');
      assert.deepEqual(JSON.parse(body), { path: '/over-h2', proto: 'https', httpVersion: '2.0' });
    } finally {
      session.close();
    }
  });

  test('gRPC over TLS with @grpc/grpc-js: a unary call and a server stream', async () => {
    const client = new EchoClient(`127.0.0.1:${f.port('grpc-tls')}`, grpc.credentials.createSsl(Buffer.from(f.webCa.certPem)), {
      'grpc.ssl_target_name_override': 'a.test',
      'grpc.default_authority': 'a.test',
    });
    try {
      const res = await new Promise<Msg>((resolve, reject) => {
        client.makeUnaryRequest('/test.Echo/Echo', (m: Msg) => Buffer.from(JSON.stringify(m)), (b: Buffer) => JSON.parse(b.toString()) as Msg, { text: 'hi' }, (err, r) =>
          err !== null || r === undefined ? reject(err ?? new Error('no response')) : resolve(r),
        );
      });
      assert.deepEqual(res, { text: 'hi', proto: 'https' });
      const got = await new Promise<string[]>((resolve, reject) => {
        const out: string[] = [];
        const call = client.makeServerStreamRequest('/test.Echo/Count', (m: Msg) => Buffer.from(JSON.stringify(m)), (b: Buffer) => JSON.parse(b.toString()) as Msg, { text: '5' });
        call.on('data', (m: Msg) => out.push(m.text));
        call.on('error', reject);
        call.on('status', (s: grpc.StatusObject) => (s.code === grpc.status.OK ? resolve(out) : reject(new Error(s.details))));
      });
      assert.deepEqual(got, ['1', '2', '3', '4', '5']);
    } finally {
      client.close();
    }
  });
});

describe('plain HTTP beside TLS', () => {
  test('the plain listener of the same ingress still serves HTTP/1.1, with x-forwarded-proto http', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: f.port('web'), path: '/plain' }, (res) => {
          let out = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (out += d));
          res.on('end', () => resolve(out));
        })
        .on('error', reject);
    });
    assert.deepEqual(JSON.parse(body), { path: '/plain', proto: 'http', httpVersion: '1.1' });
  });
});

describe('hostile input at the TLS port', () => {
  /** Sends bytes, collects whatever comes back until the server closes (fails if it never does). */
  function sendRaw(port: number, bytes: Buffer | null): Promise<{ reply: Buffer; closedByServer: boolean }> {
    return new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      // A safety net, not a timing assertion: far above the 2 s handshake timeout.
      const guard = setTimeout(() => {
        s.destroy();
        resolve({ reply: Buffer.concat(chunks), closedByServer: false });
      }, 30_000);
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('error', () => {});
      s.on('close', () => {
        clearTimeout(guard);
        resolve({ reply: Buffer.concat(chunks), closedByServer: true });
      });
      if (bytes !== null) s.write(bytes);
    });
  }

  test('a plaintext HTTP request to the TLS port is dropped: no HTTP response, the connection closed, and no request reaches the app', async () => {
    const before = f.seen.length;
    const r = await sendRaw(f.port('web-tls'), Buffer.from('GET /sneaky HTTP/1.1\r\nHost: a.test\r\n\r\n'));
    assert.equal(r.closedByServer, true);
    assert.ok(!r.reply.toString('latin1').includes('HTTP/1.1'), `no HTTP answer, got ${JSON.stringify(r.reply.toString('latin1'))}`);
    assert.ok(!f.seen.slice(before).some((s) => s.path === '/sneaky'));
  });

  test('a handshake that never completes (half a ClientHello, then silence) is closed by the handshake timeout', async () => {
    // A TLS record header announcing a 512-byte handshake message, and only 5 bytes of it.
    const partial = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03]);
    const r = await sendRaw(f.port('web-tls'), partial);
    assert.equal(r.closedByServer, true, 'the ingress closed the stalled handshake');
    const silent = await sendRaw(f.port('grpc-tls'), null);
    assert.equal(silent.closedByServer, true, 'a client that connects and says nothing is closed too');
    // Counted as the ingress's own TLS failures, apart from the mesh's mTLS ones.
    const text = await f.ingress.metrics.text();
    const value = (series: string): number => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    assert.ok(value('trellis_ingress_tls_failures_total{listener="web-tls"}') >= 2, text);
    assert.ok(value('trellis_ingress_tls_failures_total{listener="grpc-tls"}') >= 1, text);
    assert.ok(value('trellis_ingress_tls_handshakes_total{listener="web-tls"}') >= 1, text);
    assert.equal(value('trellis_tls_failures_total{direction="outbound"}'), 0, 'the mesh mTLS counters are not touched');
  });

  test('over TLS too, an HTTP/2 field with CR LF or NUL is reset by the field guard and never reaches the app', async () => {
    const before = f.seen.length;
    const c = await RawH2Client.connect(f.port('h2-tls'), { tls: true });
    try {
      const enc = new TestHpackEncoder();
      const req = [
        { name: ':method', value: 'GET' },
        { name: ':scheme', value: 'https' },
        { name: ':path', value: '/smuggle' },
        { name: ':authority', value: 'a.test' },
      ];
      c.write(headersFrame(1, enc.encode([...req, { name: 'x-a', value: 'a\r\nx-injected: 1' }]), { endStream: true }));
      c.write(headersFrame(3, enc.encode([...req, { name: 'x-a', value: 'a\0b', huffman: true }]), { endStream: true }));
      for (const sid of [1, 3]) {
        const answer = await c.waitFor((fr: RawFrame) => fr.streamId === sid && (fr.type === FrameType.RstStream || fr.type === FrameType.Headers));
        assert.equal(answer.type, FrameType.RstStream);
        assert.equal(errorCodeOf(answer), ErrorCode.ProtocolError);
      }
      assert.ok(!f.seen.slice(before).some((x) => x.path === '/smuggle'));
    } finally {
      c.destroy();
    }
  });

  test('after the hostile clients, the listener serves a good client', async () => {
    const agent = new Agent({ connect: { ca: f.webCa.certPem, servername: 'a.test' } });
    try {
      const res = await request(`https://127.0.0.1:${f.port('web-tls')}/after`, { dispatcher: agent });
      assert.equal(res.statusCode, 200);
      await res.body.dump();
    } finally {
      await agent.close();
    }
  });
});
