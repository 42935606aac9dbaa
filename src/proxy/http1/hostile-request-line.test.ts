/**
 * Hostile request lines sent over a real socket to the forwarder (issue 9, part 2.8): a huge
 * URL gets 414 as soon as the line limit is passed, and raw NUL / control / non-ASCII bytes in
 * the request-target get 400; neither reaches an upstream.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ProxyReason } from '../../errors.js';
import { MAX_REQUEST_LINE_BYTES } from './parser.js';
import { ConnectUpstream, rawExchange, startProxy } from './test-harness.js';

/** A complete proxy-made response: head, then the content-length bytes of its body. */
function complete(text: string): boolean {
  const e = text.indexOf('\r\n\r\n');
  if (e < 0) return false;
  const m = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, e));
  return m !== null && text.length >= e + 4 + Number(m[1]);
}

describe('hostile request lines over a socket', () => {
  it('a 100 KB request line gets 414 uri-too-long, not 431, and the connection is closed', async () => {
    const upstream = new ConnectUpstream(1);
    const proxy = await startProxy(upstream);
    try {
      const r = await rawExchange(proxy.port, 'GET /' + 'a'.repeat(100 * 1024) + ' HTTP/1.1\r\nHost: a\r\n\r\n');
      assert.match(r.text, /^HTTP\/1\.1 414 URI Too Long\r\n/);
      assert.match(r.text, new RegExp(`\r\ntrellis-reason: ${ProxyReason.UriTooLong}\r\n`));
      assert.match(r.text, /\r\nconnection: close\r\n/);
      assert.equal(r.closed, true);
      assert.equal(upstream.connects, 0);
      assert.deepEqual(proxy.records.map((x) => [x.status, x.reason]), [[414, ProxyReason.UriTooLong]]);
    } finally {
      await proxy.close();
    }
  });

  it('answers 414 once the line limit has arrived without a line end, while the client waits', async () => {
    const upstream = new ConnectUpstream(1);
    // A head timeout far beyond the test: an answer can only come from the line limit.
    const proxy = await startProxy(upstream, {}, { headTimeoutMs: 60_000 });
    try {
      const partial = 'GET /' + 'a'.repeat(MAX_REQUEST_LINE_BYTES - 5);
      assert.equal(partial.length, MAX_REQUEST_LINE_BYTES);
      const r = await rawExchange(proxy.port, partial, complete);
      assert.match(r.text, /^HTTP\/1\.1 414 /);
      assert.equal(upstream.connects, 0);
    } finally {
      await proxy.close();
    }
  });

  it('a request line of exactly the limit is forwarded', async () => {
    const app = net.createServer((s) => {
      s.once('data', () => s.end('HTTP/1.1 204 No Content\r\n\r\n'));
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const upstream = new ConnectUpstream((app.address() as net.AddressInfo).port);
    const proxy = await startProxy(upstream);
    try {
      const target = '/' + 'a'.repeat(MAX_REQUEST_LINE_BYTES - 16);
      const r = await rawExchange(proxy.port, `GET ${target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
      assert.match(r.text, /^HTTP\/1\.1 204 /);
      assert.equal(proxy.records[0]?.target, target);
    } finally {
      await proxy.close();
      upstream.destroyAll();
      await new Promise<void>((resolve) => app.close(() => resolve()));
    }
  });

  it('raw NUL, control, DEL and non-ASCII bytes in the target get 400 bad-request', async () => {
    const upstream = new ConnectUpstream(1);
    const proxy = await startProxy(upstream);
    try {
      for (const byte of [0x00, 0x01, 0x09, 0x0d, 0x1b, 0x7f, 0x80, 0xff]) {
        const head = Buffer.concat([
          Buffer.from('GET /admin', 'latin1'), Buffer.from([byte]), Buffer.from('x HTTP/1.1\r\nHost: a\r\n\r\n', 'latin1'),
        ]);
        const r = await rawExchange(proxy.port, head);
        assert.match(r.text, /^HTTP\/1\.1 400 Bad Request\r\n/, `byte ${byte}`);
        assert.match(r.text, /\r\ntrellis-reason: bad-request\r\n/, `byte ${byte}`);
        assert.equal(r.closed, true);
      }
      assert.equal(upstream.connects, 0);
    } finally {
      await proxy.close();
    }
  });
});
