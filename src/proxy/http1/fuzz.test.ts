import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ChunkedScanner } from './chunked.js';
import { REQUEST_CORPUS } from './fuzz-corpus.js';
import { HeadReader, readRequestHead, readResponseHead } from './head-reader.js';
import type { Incomplete, RequestParse } from './parser.js';
import { MAX_REQUEST_LINE_BYTES } from './parser.js';
import { DEFAULT_HTTP1_LIMITS } from './types.js';

const L = DEFAULT_HTTP1_LIMITS;
const SEED = 20261125;

const tchar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&\'*+-.^_`|~'.split(''));
const token = fc.string({ unit: tchar, minLength: 1, maxLength: 12 });
const vchar = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c));
const valueChar = fc.oneof(vchar, fc.constantFrom(' ', '\t'), fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)));
const fieldValue = fc.string({ unit: valueChar, maxLength: 30 }).map((s) => s.trim().replace(/^[\t ]+|[\t ]+$/g, ''));
const pathChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-._~!$&\'()*+,;=:@/?%'.split(''));
const path = fc.string({ unit: pathChar, maxLength: 40 }).map((s) => '/' + s);
const RESERVED = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'te', 'upgrade', 'expect']);
const field = fc.tuple(token, fieldValue).filter(([n]) => !RESERVED.has(n.toLowerCase()));

const validRequest = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'X-CUSTOM'),
  target: path,
  fields: fc.array(field, { maxLength: 12 }),
  host: fc.constantFrom('a', 'example.com', 'svc.ns:8080', '[::1]:80'),
  framing: fc.constantFrom('none', 'length', 'chunked'),
  length: fc.nat(1_000_000),
  close: fc.boolean(),
}).map((r) => {
  let s = `${r.method} ${r.target} HTTP/1.1\r\nHost: ${r.host}\r\n`;
  for (const [n, v] of r.fields) s += `${n}: ${v}\r\n`;
  if (r.framing === 'length') s += `Content-Length: ${r.length}\r\n`;
  if (r.framing === 'chunked') s += 'Transfer-Encoding: chunked\r\n';
  if (r.close) s += 'Connection: close\r\n';
  return s + '\r\n';
});

function feed(bytes: Buffer, splits: number[]): { result: RequestParse | Incomplete; rest: Buffer } {
  const points = [...new Set(splits.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const reader = new HeadReader();
  let prev = 0;
  let result: RequestParse | Incomplete = { kind: 'incomplete' };
  for (const p of [...points, bytes.length]) {
    reader.push(bytes.subarray(prev, p));
    prev = p;
    if (result.kind === 'incomplete') result = readRequestHead(reader, L);
  }
  return { result, rest: Buffer.from(reader.bytes) };
}

describe('fuzz: request heads', () => {
  it('valid requests split at random points parse as unsplit', () => {
    fc.assert(fc.property(validRequest, fc.array(fc.nat(), { maxLength: 8 }), (head, splits) => {
      const bytes = Buffer.from(head + 'BODYBYTES', 'latin1');
      const whole = feed(bytes, []);
      assert.equal(whole.result.kind, 'request', JSON.stringify(whole.result));
      const split = feed(bytes, splits);
      assert.deepEqual(split.result, whole.result);
      assert.equal(split.rest.toString('latin1'), 'BODYBYTES');
    }), { seed: SEED, numRuns: 500 });
  });

  it('mutated heads never throw and parse to a value', () => {
    const mutation = fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }), op: fc.constantFrom('set', 'insert', 'delete') });
    fc.assert(fc.property(validRequest, fc.array(mutation, { minLength: 1, maxLength: 4 }), (head, muts) => {
      const bytes = [...Buffer.from(head, 'latin1')];
      for (const m of muts) {
        const i = m.at % (bytes.length + 1);
        if (m.op === 'set' && i < bytes.length) bytes[i] = m.byte;
        else if (m.op === 'insert') bytes.splice(i, 0, m.byte);
        else bytes.splice(i, 1);
      }
      const buf = Buffer.from(bytes);
      const r = new HeadReader();
      r.push(buf);
      const res = readRequestHead(r, L);
      assert.ok(res.kind === 'request' || res.kind === 'error' || res.kind === 'incomplete');
      if (res.kind === 'request') {
        // Whatever was accepted is well-formed: no CR/LF/NUL smuggled into names or values.
        for (const x of res.headers) assert.ok(!/[\r\n\0]/.test(x));
        assert.ok(!(res.framing === 'chunked' && res.contentLength >= 0));
      }
      const r2 = new HeadReader();
      r2.push(Buffer.from('HTTP/1.1 200 OK\r\n' + buf.toString('latin1').slice(buf.indexOf('\r\n') + 2), 'latin1'));
      const rr = readResponseHead(r2, L, 'GET');
      assert.ok(rr.kind === 'response' || rr.kind === 'error' || rr.kind === 'incomplete');
      const sc = new ChunkedScanner();
      const out = sc.push(buf);
      assert.ok(out === -1 || (out >= 0 && out <= buf.length));
    }), { seed: SEED, numRuns: 2000 });
  });

  it('random bytes never throw', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (arr) => {
      const r = new HeadReader();
      r.push(Buffer.from(arr));
      r.push(Buffer.from('\r\n\r\n'));
      const res = readRequestHead(r, L);
      assert.ok(res.kind === 'request' || res.kind === 'error' || res.kind === 'incomplete');
    }), { seed: SEED, numRuns: 2000 });
  });

  it('the request-line limit gives the same verdict whatever the split points', () => {
    const around = fc.integer({ min: MAX_REQUEST_LINE_BYTES - 40, max: MAX_REQUEST_LINE_BYTES + 40 });
    fc.assert(fc.property(around, fc.array(fc.nat(), { maxLength: 8 }), fc.nat(3), (lineBytes, splits, fields) => {
      const head = 'GET /' + 'p'.repeat(lineBytes - 16) + ' HTTP/1.1\r\nHost: a\r\n' + 'X: y\r\n'.repeat(fields) + '\r\n';
      const whole = feed(Buffer.from(head, 'latin1'), []);
      const split = feed(Buffer.from(head, 'latin1'), splits);
      const expected = lineBytes > MAX_REQUEST_LINE_BYTES ? 'error' : 'request';
      assert.equal(whole.result.kind, expected);
      assert.equal(split.result.kind, expected);
      if (split.result.kind === 'error') assert.equal(split.result.status, 414);
    }), { seed: SEED, numRuns: 300 });
  });

  it('regression corpus', () => {
    for (const c of REQUEST_CORPUS) {
      const r = new HeadReader();
      r.push(Buffer.from(c.head, 'latin1'));
      const res = readRequestHead(r, L);
      if (c.expect === 0) assert.equal(res.kind, 'request', c.name);
      else {
        assert.equal(res.kind, 'error', c.name);
        if (res.kind === 'error') assert.equal(res.status, c.expect, c.name);
      }
    }
  });
});

describe('fuzz: chunked bodies', () => {
  const ext = fc.option(fc.constantFrom(';a', ';a=b', ' ;a="x y"', ';a=b;c', ';q="\\"\\\\"'), { nil: undefined });
  const chunk = fc.record({ size: fc.integer({ min: 1, max: 300 }), ext, upper: fc.boolean(), zeros: fc.nat(3) });
  const body = fc.record({
    chunks: fc.array(chunk, { maxLength: 10 }),
    lastExt: ext,
    trailers: fc.array(field, { maxLength: 3 }),
  }).map((b) => {
    let s = '';
    let data = 0;
    for (const c of b.chunks) {
      let hex = c.size.toString(16);
      if (c.upper) hex = hex.toUpperCase();
      s += '0'.repeat(c.zeros) + hex + (c.ext ?? '') + '\r\n' + '\r\n0;x'.repeat(Math.ceil(c.size / 5)).slice(0, c.size) + '\r\n';
      data += c.size;
    }
    s += '0' + (b.lastExt ?? '') + '\r\n';
    for (const [n, v] of b.trailers) s += `${n}: ${v}\r\n`;
    return { text: s + '\r\n', data };
  });

  it('finds the exact end whatever the split points', () => {
    fc.assert(fc.property(body, fc.array(fc.nat(), { maxLength: 12 }), (b, splits) => {
      const buf = Buffer.from(b.text + 'POST / HTTP/1.1\r\n', 'latin1');
      const points = [...new Set(splits.map((p) => p % (buf.length + 1)))].sort((x, y) => x - y);
      const sc = new ChunkedScanner();
      let prev = 0;
      let end = -1;
      for (const p of [...points, buf.length]) {
        const part = buf.subarray(prev, p);
        if (end === -1) {
          const r = sc.push(part);
          assert.notEqual(r, -1, sc.error);
          if (sc.done) end = prev + r;
        }
        prev = p;
      }
      assert.equal(end, b.text.length);
      assert.equal(sc.dataBytes, b.data);
    }), { seed: SEED, numRuns: 1000 });
  });
});
