import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { sendMirrors, shadowHost } from './mirror.js';
import { parseRequestHead } from './parser.js';
import type { RequestHead } from './parser.js';
import { waitFor } from './plan-test-support.js';
import { closeServer, ConnectUpstream, listen } from './test-harness.js';
import { DEFAULT_HTTP1_LIMITS } from './types.js';

function head(text: string): RequestHead {
  const b = Buffer.from(text, 'latin1');
  const r = parseRequestHead(b, b.length, DEFAULT_HTTP1_LIMITS);
  assert.equal(r.kind, 'request');
  return r as RequestHead;
}

/** A raw upstream that answers each connection's first request with `reply` and keeps it open. */
async function rawUpstream(reply: string | null): Promise<{ server: net.Server; port: number; received: string[] }> {
  const received: string[] = [];
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    let text = '';
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const m = /\r\ncontent-length: (\d+)/.exec(text);
      if (end >= 0 && text.length >= end + 4 + (m !== null ? Number(m[1]) : 0)) {
        received.push(text);
        if (reply !== null) s.write(reply);
      }
    });
  });
  return { server, port: await listen(server), received };
}

describe('shadowHost', () => {
  it('adds -shadow to the host name, before any port', () => {
    assert.equal(shadowHost('svc'), 'svc-shadow');
    assert.equal(shadowHost('svc.ns:8080'), 'svc.ns-shadow:8080');
    assert.equal(shadowHost('[::1]:80'), '[::1]-shadow:80');
    assert.equal(shadowHost('[::1]'), '[::1]-shadow');
  });
});

describe('sendMirrors', () => {
  const req = head('PUT /x?y=1 HTTP/1.1\r\nHost: a:8080\r\nConnection: keep-alive\r\nContent-Length: 4\r\nX-Strip: 1\r\n\r\n');

  for (const [name, reply] of [
    ['content-length', 'HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc'],
    ['chunked', 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
  ] as const) {
    it(`reads a ${name} response to its end, then drops the connection`, async () => {
      const up = await rawUpstream(reply);
      const upstream = new ConnectUpstream(up.port);
      try {
        sendMirrors([upstream], req, [Buffer.from('bo'), Buffer.from('dy')], {
          limits: DEFAULT_HTTP1_LIMITS, stripRequestHeaders: new Set(['x-strip']), addRequestHeaders: ['x-added', '1'], timeoutMs: 10_000,
        });
        // Released long before the timeout: the response end was found although the server keeps the socket open.
        await waitFor(() => upstream.releases.length === 1, 'the release', 3000);
        assert.deepEqual(upstream.releases, [{ reusable: false, failed: false }]);
        assert.equal(upstream.acquires[0]!.fresh, true);
        assert.equal(upstream.acquires[0]!.host, 'a-shadow:8080');
        const got = up.received[0]!;
        assert.match(got, /^PUT \/x\?y=1 HTTP\/1.1\r\n/);
        assert.match(got, /\r\nhost: a-shadow:8080\r\n/);
        assert.match(got, /\r\nconnection: close\r\n/);
        assert.match(got, /\r\nx-added: 1\r\n/);
        assert.doesNotMatch(got, /x-strip|keep-alive/);
        assert.ok(got.endsWith('\r\n\r\nbody'));
      } finally {
        upstream.destroyAll();
        await closeServer(up.server);
      }
    });
  }

  it('gives up after its timeout when the mirror never answers', async () => {
    const up = await rawUpstream(null);
    const upstream = new ConnectUpstream(up.port);
    try {
      sendMirrors([upstream], req, [Buffer.from('body')], { limits: DEFAULT_HTTP1_LIMITS, timeoutMs: 50 });
      await waitFor(() => upstream.releases.length === 1, 'the release after the timeout');
      assert.equal(up.received.length, 1);
    } finally {
      upstream.destroyAll();
      await closeServer(up.server);
    }
  });
});
