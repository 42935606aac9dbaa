import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyReason } from '../../errors.js';
import { HeadReader, readRequestHead, readResponseHead } from './head-reader.js';
import type { Incomplete, ParseFailure, RequestHead, RequestParse, ResponseHead, ResponseParse } from './parser.js';
import { classifyTransferEncoding, MAX_REQUEST_LINE_BYTES, parseContentLength, parseTokenList, TeVerdict } from './parser.js';
import { DEFAULT_HTTP1_LIMITS } from './types.js';
import type { Http1Limits } from './types.js';

const L = DEFAULT_HTTP1_LIMITS;

function req(s: string, limits: Http1Limits = L): RequestParse | Incomplete {
  const r = new HeadReader();
  r.push(Buffer.from(s, 'latin1'));
  return readRequestHead(r, limits);
}

function resp(s: string, method = 'GET', limits: Http1Limits = L): ResponseParse | Incomplete {
  const r = new HeadReader();
  r.push(Buffer.from(s, 'latin1'));
  return readResponseHead(r, limits, method);
}

function ok(s: string, limits: Http1Limits = L): RequestHead {
  const r = req(s, limits);
  assert.equal(r.kind, 'request', JSON.stringify(r));
  return r as RequestHead;
}

function okResp(s: string, method = 'GET'): ResponseHead {
  const r = resp(s, method);
  assert.equal(r.kind, 'response', JSON.stringify(r));
  return r as ResponseHead;
}

function rejects(s: string, status: number, reason: ProxyReason = ProxyReason.BadRequest, limits: Http1Limits = L): ParseFailure {
  const r = req(s, limits);
  assert.equal(r.kind, 'error', `expected rejection of ${JSON.stringify(s)}, got ${JSON.stringify(r)}`);
  const f = r as ParseFailure;
  assert.equal(f.status, status, f.message);
  assert.equal(f.reason, reason);
  return f;
}

function respRejects(s: string, method = 'GET'): void {
  const r = resp(s, method);
  assert.equal(r.kind, 'error', `expected rejection of ${JSON.stringify(s)}`);
  assert.equal((r as ParseFailure).status, 502);
  assert.equal((r as ParseFailure).reason, ProxyReason.UpstreamBadResponse);
}

describe('request line', () => {
  it('parses a simple GET', () => {
    const h = ok('GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nX-A:  v  \r\n\r\n');
    assert.equal(h.method, 'GET');
    assert.equal(h.target, '/a?b=c');
    assert.equal(h.versionMinor, 1);
    assert.equal(h.startLine, 'GET /a?b=c HTTP/1.1');
    assert.equal(h.host, 'example.com');
    assert.deepEqual(h.headers, ['host', 'example.com', 'x-a', 'v']);
    assert.equal(h.framing, 'none');
    assert.equal(h.keepAlive, true);
  });
  it('accepts absolute-form, authority-form for CONNECT and asterisk-form for OPTIONS', () => {
    assert.equal(ok('GET http://a.b/c HTTP/1.1\r\nHost: a.b\r\n\r\n').target, 'http://a.b/c');
    assert.equal(ok('CONNECT a.b:443 HTTP/1.1\r\nHost: a.b:443\r\n\r\n').target, 'a.b:443');
    assert.equal(ok('OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n').target, '*');
  });
  it('rejects wrong target forms', () => {
    rejects('GET * HTTP/1.1\r\nHost: a\r\n\r\n', 400);
    rejects('CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n', 400);
    rejects('CONNECT a.b HTTP/1.1\r\nHost: a\r\n\r\n', 400);
    rejects('GET a.b:80 HTTP/1.1\r\nHost: a\r\n\r\n', 400);
    rejects('GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n', 400);
  });
  it('skips leading empty lines', () => {
    assert.equal(ok('\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n').method, 'GET');
  });
  it('rejects malformed request lines', () => {
    rejects('GET  / HTTP/1.1\r\nHost: a\r\n\r\n', 400); // two SP
    rejects('GET / HTTP/1.1 \r\nHost: a\r\n\r\n', 400); // trailing SP
    rejects('GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n', 400); // CTL in target
    rejects('GET /\xe9 HTTP/1.1\r\nHost: a\r\n\r\n', 400); // non-ASCII
    rejects('G(T / HTTP/1.1\r\nHost: a\r\n\r\n', 400); // non-token method
    rejects(' GET / HTTP/1.1\r\nHost: a\r\n\r\n', 400);
    rejects('GET / http/1.1\r\nHost: a\r\n\r\n', 400);
    rejects('GET / HTTP/1.10\r\nHost: a\r\n\r\n', 400);
    rejects('GET /\tx HTTP/1.1\r\nHost: a\r\n\r\n', 400);
  });
  it('answers 505 to other HTTP versions', () => {
    rejects('GET / HTTP/2.0\r\nHost: a\r\n\r\n', 505);
    rejects('GET / HTTP/1.2\r\nHost: a\r\n\r\n', 505);
  });
  it('refuses NUL, every other CTL, DEL, SP and non-ASCII bytes in the request-target', () => {
    const bad = [...Array.from({ length: 0x21 }, (_, c) => c).filter((c) => c !== 0x0a), 0x7f, 0x80, 0xff];
    for (const c of bad) {
      for (const target of [`/a${String.fromCharCode(c)}b`, `/${String.fromCharCode(c)}`, `http://h/${String.fromCharCode(c)}`]) {
        rejects(`GET ${target} HTTP/1.1\r\nHost: a\r\n\r\n`, 400);
      }
    }
    // A raw LF ends the line: a bare LF, refused too.
    rejects('GET /a\nb HTTP/1.1\r\nHost: a\r\n\r\n', 400);
    // %00 is an escape, well-formed for HTTP/1: the path normalizer refuses it (stages/normalize).
    assert.equal(ok('GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n').target, '/a%00b');
  });
});

describe('request line limit (414)', () => {
  const line = (targetLength: number): string => 'GET /' + 'a'.repeat(targetLength - 1) + ' HTTP/1.1\r\n';
  // "GET " + target + " HTTP/1.1\r\n" is the target plus 15 bytes.
  const longest = MAX_REQUEST_LINE_BYTES - 15;

  it('accepts a request line of exactly the limit, CRLF included', () => {
    assert.equal(line(longest).length, MAX_REQUEST_LINE_BYTES);
    assert.equal(ok(line(longest) + 'Host: a\r\n\r\n').target.length, longest);
  });

  it('answers 414 uri-too-long to one byte more, complete or not, even under the head limit', () => {
    const over = line(longest + 1);
    rejects(over + 'Host: a\r\n\r\n', 414, ProxyReason.UriTooLong);
    rejects(over, 414, ProxyReason.UriTooLong);
    rejects('GET /' + 'a'.repeat(100 * 1024) + ' HTTP/1.1\r\nHost: a\r\n\r\n', 414, ProxyReason.UriTooLong);
  });

  it('refuses as soon as the limit is reached without a line end, without waiting for the head limit', () => {
    const r = new HeadReader();
    r.push(Buffer.from('GET /' + 'a'.repeat(MAX_REQUEST_LINE_BYTES - 6), 'latin1'));
    assert.equal(r.length, MAX_REQUEST_LINE_BYTES - 1);
    assert.equal(readRequestHead(r, L).kind, 'incomplete');
    r.push(Buffer.from('a', 'latin1'));
    const res = readRequestHead(r, L);
    assert.equal(res.kind, 'error');
    assert.equal((res as ParseFailure).status, 414);
    assert.ok(MAX_REQUEST_LINE_BYTES < L.maxHeadBytes);
  });

  it('a short request line with large headers is not a long URI: 431 past the head limit', () => {
    const big = 'GET / HTTP/1.1\r\nHost: a\r\nCookie: ' + 'c'.repeat(L.maxHeadBytes) + '\r\n\r\n';
    rejects(big, 431, ProxyReason.HeadTooLarge);
    rejects(big.slice(0, -4), 431, ProxyReason.HeadTooLarge);
    ok('GET / HTTP/1.1\r\nHost: a\r\nCookie: ' + 'c'.repeat(20_000) + '\r\n\r\n');
  });

  it('leading empty lines do not count, and a bare LF in a long line is a 400, not a 414', () => {
    ok('\r\n'.repeat(10) + line(longest) + 'Host: a\r\n\r\n');
    rejects('GET /a\n' + 'x'.repeat(MAX_REQUEST_LINE_BYTES) + '\r\n\r\n', 400);
  });
});

describe('fields', () => {
  it('rejects whitespace before colon', () => {
    assert.match(rejects('GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n', 400).message, /whitespace before colon/);
    rejects('GET / HTTP/1.1\r\nHost: a\r\nX-A\t: b\r\n\r\n', 400);
  });
  it('rejects obs-fold', () => {
    assert.match(rejects('GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n', 400).message, /folding/);
    rejects('GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n', 400);
  });
  it('rejects bare LF and bare CR anywhere', () => {
    rejects('GET / HTTP/1.1\nHost: a\r\n\r\n', 400);
    rejects('GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n', 400);
    rejects('GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n', 400);
    rejects('GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n', 400);
    rejects('GET / HTTP/1.1\r\nHost: a\r\n\n', 400); // bare LF ending, detected before CRLFCRLF
    rejects('GET / HTTP/1.1\n\n', 400);
  });
  it('rejects NUL and CTLs in values, and empty or bad names', () => {
    rejects('GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n', 400);
    rejects('GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n', 400);
    rejects('GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n', 400);
    rejects('GET / HTTP/1.1\r\nHost: a\r\nX(y): b\r\n\r\n', 400);
    rejects('GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n', 400);
  });
  it('accepts obs-text, HTAB, empty values; trims OWS', () => {
    const h = ok('GET / HTTP/1.1\r\nHost: a\r\nX: \t a\tb\xe9 \t\r\nY:\r\n\r\n');
    assert.deepEqual(h.headers.slice(2), ['x', 'a\tb\xe9', 'y', '']);
  });
  it('enforces head size and field count limits with 431', () => {
    const small: Http1Limits = { ...L, maxHeadBytes: 64, maxHeaderCount: 2 };
    rejects('GET / HTTP/1.1\r\nHost: a\r\nX: ' + 'a'.repeat(80) + '\r\n\r\n', 431, ProxyReason.HeadTooLarge, small);
    rejects('GET / HTTP/1.1\r\nHost: a\r\nX: ' + 'a'.repeat(80), 431, ProxyReason.HeadTooLarge, small); // incomplete but over
    rejects('GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n', 431, ProxyReason.HeadTooLarge, small);
    ok('GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\n\r\n', small);
  });
  it('reports incomplete heads', () => {
    assert.equal(req('GET / HTTP/1.1\r\nHost: a\r\n').kind, 'incomplete');
    assert.equal(req('GET / HTTP/1.1\r\nHost: a\r\n\r').kind, 'incomplete');
  });
});

describe('Host', () => {
  it('requires exactly one Host in HTTP/1.1', () => {
    assert.match(rejects('GET / HTTP/1.1\r\n\r\n', 400).message, /missing Host/);
    assert.match(rejects('GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n', 400).message, /duplicate Host/);
    rejects('GET / HTTP/1.1\r\nHost: a/b\r\n\r\n', 400);
    rejects('GET / HTTP/1.1\r\nHost: u@a\r\n\r\n', 400);
  });
  it('allows HTTP/1.0 without Host', () => {
    const h = ok('GET / HTTP/1.0\r\n\r\n');
    assert.equal(h.host, undefined);
    assert.equal(h.keepAlive, false);
    assert.equal(ok('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n').keepAlive, true);
  });
  it('accepts IPv6 literals with ports', () => {
    assert.equal(ok('GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n').host, '[::1]:8080');
  });
});

describe('framing', () => {
  it('reads Content-Length', () => {
    const h = ok('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n');
    assert.equal(h.framing, 'length');
    assert.equal(h.contentLength, 42);
    assert.equal(ok('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n').contentLength, 0);
    assert.equal(ok('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n').contentLength, 5);
  });
  it('rejects bad or conflicting Content-Length', () => {
    rejects('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n', 400);
    rejects('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n', 400);
    rejects('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n', 400);
    rejects('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n', 400);
    rejects('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n', 400);
    rejects('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n', 400);
    rejects('POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n', 400);
    rejects('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9007199254740992\r\n\r\n', 400);
    rejects('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n', 400);
  });
  it('rejects Transfer-Encoding with Content-Length', () => {
    assert.match(rejects('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n', 400).message, /both/);
    rejects('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n', 400);
  });
  it('accepts chunked as final coding, case-insensitively', () => {
    assert.equal(ok('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n').framing, 'chunked');
    assert.equal(ok('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChUnKeD\r\n\r\n').framing, 'chunked');
    const h = ok('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n');
    assert.equal(h.framing, 'chunked');
    assert.equal(h.transferEncoding, 'gzip, chunked');
  });
  it('rejects Transfer-Encoding whose final coding is not chunked', () => {
    rejects('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n', 400);
    rejects('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', 400);
    rejects('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n', 400);
    rejects('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n', 400);
    rejects('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n', 400);
    rejects('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n', 400);
    rejects('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "chunked"\r\n\r\n', 400);
    rejects('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n', 501, ProxyReason.UnsupportedTransferEncoding);
    rejects('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: br, chunked\r\n\r\n', 501, ProxyReason.UnsupportedTransferEncoding);
  });
  it('rejects Transfer-Encoding on HTTP/1.0', () => {
    rejects('POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 400);
  });
  it('TE verdicts', () => {
    assert.equal(classifyTransferEncoding('chunked'), TeVerdict.Chunked);
    assert.equal(classifyTransferEncoding('gzip ; q=1, chunked'), TeVerdict.Chunked);
    assert.equal(classifyTransferEncoding('gzip'), TeVerdict.NotChunked);
    assert.equal(classifyTransferEncoding('foo'), TeVerdict.Unknown);
    assert.equal(classifyTransferEncoding('foo, chunked'), TeVerdict.UnknownChunked);
    assert.equal(classifyTransferEncoding(',chunked'), TeVerdict.Malformed);
  });
  it('Content-Length values', () => {
    assert.equal(parseContentLength('0'), 0);
    assert.equal(parseContentLength('007'), 7);
    assert.equal(parseContentLength('9007199254740991'), Number.MAX_SAFE_INTEGER);
    assert.equal(parseContentLength('9007199254740992'), -3);
    assert.equal(parseContentLength('1,,1'), -2);
    assert.equal(parseContentLength('1,'), -2);
  });
});

describe('connection semantics', () => {
  it('Connection: close and keep-alive, upgrade, expect', () => {
    assert.equal(ok('GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n').keepAlive, false);
    const u = ok('GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n');
    assert.equal(u.upgrade, true);
    assert.deepEqual(u.connectionTokens, ['keep-alive', 'upgrade']);
    assert.equal(ok('GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n').upgrade, false);
    assert.equal(ok('GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\r\n').upgrade, false);
    assert.equal(ok('GET / HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n').upgrade, false);
    assert.equal(ok('PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n').expectContinue, true);
    rejects('GET / HTTP/1.1\r\nHost: a\r\nConnection: a b\r\n\r\n', 400);
    assert.deepEqual(parseTokenList(' a, ,B '), ['a', 'b']);
  });
});

describe('response heads', () => {
  it('parses status lines', () => {
    const r = okResp('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n');
    assert.equal(r.status, 200);
    assert.equal(r.reasonPhrase, 'OK');
    assert.equal(r.framing, 'length');
    assert.equal(okResp('HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n').reasonPhrase, '');
    assert.equal(okResp('HTTP/1.1 204\r\n\r\n').status, 204);
    assert.equal(okResp('HTTP/1.0 200 OK\r\n\r\n').keepAlive, false);
  });
  it('rejects bad status lines and fields', () => {
    respRejects('HTTP/1.1 20 OK\r\n\r\n');
    respRejects('HTTP/1.1 600 X\r\n\r\n');
    respRejects('HTTP/2 200 OK\r\n\r\n');
    respRejects('HTTP/1.1  200 OK\r\n\r\n');
    respRejects('HTTP/1.1 200 OK\r\nX : y\r\n\r\n');
    respRejects('HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n');
    respRejects('HTTP/1.1 200 OK\nX: y\r\n\r\n');
    respRejects('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n');
    respRejects('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n');
    respRejects('HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
  });
  it('frames by status and method', () => {
    assert.equal(okResp('HTTP/1.1 100 Continue\r\n\r\n').framing, 'none');
    assert.equal(okResp('HTTP/1.1 204 No Content\r\n\r\n').framing, 'none');
    assert.equal(okResp('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n').framing, 'none');
    assert.equal(okResp('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n', 'HEAD').framing, 'none');
    assert.equal(okResp('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n').framing, 'chunked');
    const c = okResp('HTTP/1.1 200 OK\r\n\r\n');
    assert.equal(c.framing, 'close');
    assert.equal(c.keepAlive, false);
    assert.equal(okResp('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n').framing, 'close');
    assert.equal(okResp('HTTP/1.1 200 Connection established\r\n\r\n', 'CONNECT').framing, 'close');
  });
});
