import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { test } from 'node:test';
import { MAX_CLIENT_HELLO, readClientHelloSni } from './sni.js';

/** The first bytes Node's TLS client sends for `servername` (captured from a real socket on loopback). */
async function clientHello(servername: string | undefined): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const got = new Promise<Buffer>((resolve) => {
    server.once('connection', (s) => {
      let buf = Buffer.alloc(0);
      s.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
          resolve(buf);
          s.destroy();
        }
      });
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  const c = tls.connect({ host: '127.0.0.1', port, ...(servername !== undefined ? { servername } : {}), rejectUnauthorized: false });
  c.on('error', () => {});
  const hello = await got;
  c.destroy();
  server.close();
  return hello;
}

test('reads the server name of a real ClientHello, at any split', async () => {
  const hello = await clientHello('API.Payments.example');
  assert.deepEqual(readClientHelloSni(hello), { kind: 'sni', name: 'api.payments.example' });
  for (let n = 0; n < hello.length; n += 7) assert.deepEqual(readClientHelloSni(hello.subarray(0, n)), { kind: 'more' }, `${n} bytes`);
});

test('a ClientHello to an IP address carries no server name', async () => {
  const hello = await clientHello(undefined);
  assert.deepEqual(readClientHelloSni(hello), { kind: 'none' });
});

test('a ClientHello split over two TLS records is put back together', async () => {
  const hello = await clientHello('split.example');
  const body = hello.subarray(5);
  const rec = (b: Buffer): Buffer => Buffer.concat([Buffer.from([22, 3, 1, b.length >> 8, b.length & 0xff]), b]);
  const two = Buffer.concat([rec(body.subarray(0, 40)), rec(body.subarray(40))]);
  assert.deepEqual(readClientHelloSni(two), { kind: 'sni', name: 'split.example' });
});

test('hostile bytes never throw: plain HTTP, bad lengths, every truncation and every corrupted byte', async () => {
  assert.equal(readClientHelloSni(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')).kind, 'invalid');
  assert.equal(readClientHelloSni(Buffer.from([22, 3, 1, 0, 0])).kind, 'invalid');
  assert.equal(readClientHelloSni(Buffer.from([22, 3, 1, 0xff, 0xff])).kind, 'invalid');
  assert.equal(readClientHelloSni(Buffer.alloc(MAX_CLIENT_HELLO + 10, 0)).kind, 'invalid');
  const hello = await clientHello('victim.example');
  for (let i = 0; i < hello.length; i++) {
    for (const v of [0x00, 0xff, 0x80]) {
      const bad = Buffer.from(hello);
      bad[i] = v;
      const r = readClientHelloSni(bad);
      assert.ok(['more', 'sni', 'none', 'invalid'].includes(r.kind));
      if (r.kind === 'sni') assert.match(r.name, /^[a-z0-9._-]+$/, 'a name is only ever hostname characters');
    }
  }
});
