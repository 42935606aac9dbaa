import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HeadReader, readRequestHead, readResponseHead } from './head-reader.js';
import type { RequestHead, ResponseHead } from './parser.js';
import { HeadEdits } from '../pipeline/head-edits.js';
import { localResponse, serializeForwardedRequest, serializeResponseHead } from './serialize.js';
import { DEFAULT_HTTP1_LIMITS } from './types.js';

function reqHead(s: string): RequestHead {
  const r = new HeadReader();
  r.push(Buffer.from(s, 'latin1'));
  const h = readRequestHead(r, DEFAULT_HTTP1_LIMITS);
  assert.equal(h.kind, 'request');
  return h as RequestHead;
}

function respHead(s: string, method = 'GET'): ResponseHead {
  const r = new HeadReader();
  r.push(Buffer.from(s, 'latin1'));
  const h = readResponseHead(r, DEFAULT_HTTP1_LIMITS, method);
  assert.equal(h.kind, 'response');
  return h as ResponseHead;
}

describe('serializeForwardedRequest', () => {
  it('keeps the start line and end-to-end fields, drops hop-by-hop ones', () => {
    const h = reqHead('GET /x?y HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: 5\r\n' +
      'Proxy-Connection: close\r\nTE: gzip\r\nUpgrade: websocket\r\nX-Hop: 1\r\nX-End: 2\r\n\r\n');
    const out = serializeForwardedRequest(h, null).toString('latin1');
    assert.equal(out, 'GET /x?y HTTP/1.1\r\nhost: a\r\nx-end: 2\r\n\r\n');
  });
  it('re-emits framing as forwarded, keeps te: trailers', () => {
    const c = reqHead('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n\r\n');
    assert.equal(serializeForwardedRequest(c, null).toString('latin1'),
      'POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: gzip, chunked\r\nte: trailers\r\n\r\n');
    const l = reqHead('POST / HTTP/1.1\r\nContent-Length: 007\r\nHost: a\r\nContent-Length: 7\r\n\r\n');
    assert.equal(serializeForwardedRequest(l, null).toString('latin1'),
      'POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 7\r\n\r\n');
  });
  it('forwards Upgrade only for upgrades; applies removed and set fields', () => {
    const u = reqHead('GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Secret: s\r\n\r\n');
    const edits = new HeadEdits();
    edits.removeField('x-secret');
    edits.setField('x-forwarded-proto', 'http');
    const out = serializeForwardedRequest(u, edits).toString('latin1');
    assert.equal(out, 'GET /ws HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: websocket\r\nx-forwarded-proto: http\r\n\r\n');
    const plain = reqHead('GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n');
    assert.equal(serializeForwardedRequest(plain, null).toString('latin1'), 'GET / HTTP/1.1\r\nhost: a\r\n\r\n');
  });
  it('edits replace the target and the single Host, set replaces every field of its name, add appends; framing is never an edit', () => {
    const h = reqHead('POST /a?q=1 HTTP/1.1\r\nHost: a\r\nX-T: 1\r\nX-T: 2\r\nX-Keep: k\r\nContent-Length: 2\r\n\r\n');
    const edits = new HeadEdits();
    edits.target = '/b?q=1';
    edits.authority = 'b.example';
    edits.setField('x-t', 'new');
    edits.addField('x-keep', 'k2');
    edits.setField('content-length', '999');
    edits.addField('host', 'evil');
    assert.equal(serializeForwardedRequest(h, edits).toString('latin1'),
      'POST /b?q=1 HTTP/1.1\r\nhost: b.example\r\nx-keep: k\r\ncontent-length: 2\r\nx-t: new\r\nx-keep: k2\r\n\r\n');
    const ten = reqHead('GET / HTTP/1.0\r\n\r\n');
    const e2 = new HeadEdits();
    e2.authority = 'c';
    assert.equal(serializeForwardedRequest(ten, e2).toString('latin1'), 'GET / HTTP/1.0\r\nhost: c\r\n\r\n');
  });
  it('Connection cannot remove Host', () => {
    const h = reqHead('GET / HTTP/1.1\r\nHost: a\r\nConnection: host\r\n\r\n');
    assert.match(serializeForwardedRequest(h, null).toString('latin1'), /host: a/);
  });
});

describe('serializeResponseHead', () => {
  it('drops hop-by-hop, re-emits framing, says close when closing', () => {
    const r = respHead('HTTP/1.1 200 OK\r\nConnection: keep-alive, X-H\r\nKeep-Alive: timeout=5\r\nX-H: 1\r\nContent-Length: 3\r\nX-E: e\r\n\r\n');
    assert.equal(serializeResponseHead(r, { close: true, keepAliveHeader: false, upgrade: false }).toString('latin1'),
      'HTTP/1.1 200 OK\r\nx-e: e\r\ncontent-length: 3\r\nconnection: close\r\n\r\n');
    assert.equal(serializeResponseHead(r, { close: false, keepAliveHeader: true, upgrade: false }).toString('latin1'),
      'HTTP/1.1 200 OK\r\nx-e: e\r\ncontent-length: 3\r\nconnection: keep-alive\r\n\r\n');
  });
  it('keeps Upgrade on a 101, nothing on a 100, CL on a HEAD response', () => {
    const u = respHead('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\n\r\n');
    assert.equal(serializeResponseHead(u, { close: false, keepAliveHeader: false, upgrade: true }).toString('latin1'),
      'HTTP/1.1 101 Switching Protocols\r\nsec-websocket-accept: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n');
    const c = respHead('HTTP/1.1 100 Continue\r\n\r\n');
    assert.equal(serializeResponseHead(c, { close: true, keepAliveHeader: false, upgrade: false }).toString('latin1'),
      'HTTP/1.1 100 Continue\r\n\r\n');
    const h = respHead('HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n', 'HEAD');
    assert.match(serializeResponseHead(h, { close: false, keepAliveHeader: false, upgrade: false }).toString('latin1'), /content-length: 99/);
  });
});

describe('localResponse', () => {
  it('carries trellis-reason, text/plain and a correct content-length', () => {
    const s = localResponse(502, 'upstream-reset', 'gone', true, false).toString('latin1');
    assert.equal(s, 'HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n' +
      'trellis-reason: upstream-reset\r\nconnection: close\r\n\r\ngone\n');
    const h = localResponse(503, 'no-endpoints', 'none', false, true).toString('latin1');
    assert.match(h, /content-length: 5\r\n/);
    assert.ok(h.endsWith('\r\n\r\n'));
  });
});
