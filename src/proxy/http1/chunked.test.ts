import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkedScanner } from './chunked.js';

/** Scans `body` split at every pair of points; asserts the end is found at `expectEnd`. */
function atEverySplit(body: string, expectEnd: number): void {
  const buf = Buffer.from(body + 'NEXT', 'latin1');
  for (let a = 0; a <= buf.length; a++) {
    for (let b = a; b <= buf.length; b += 3) {
      const sc = new ChunkedScanner();
      let end = -1;
      let base = 0;
      for (const part of [buf.subarray(0, a), buf.subarray(a, b), buf.subarray(b)]) {
        if (end === -1) {
          const r = sc.push(part, 0);
          assert.notEqual(r, -1, `${sc.error ?? ''} at split ${a}/${b}`);
          if (sc.done) end = base + r;
        }
        base += part.length;
      }
      assert.equal(end, expectEnd, `split ${a}/${b}`);
    }
  }
}

function fails(body: string): string {
  const buf = Buffer.from(body, 'latin1');
  for (let a = 0; a <= buf.length; a++) {
    const sc = new ChunkedScanner();
    const r1 = sc.push(buf.subarray(0, a));
    const r2 = r1 === -1 ? -1 : sc.push(buf.subarray(a));
    assert.equal(r2, -1, `expected failure for ${JSON.stringify(body)} split at ${a}`);
  }
  const sc = new ChunkedScanner();
  sc.push(buf);
  return sc.error ?? '';
}

describe('ChunkedScanner', () => {
  it('finds the end of simple bodies at every split point', () => {
    const b = '5\r\nhello\r\n0\r\n\r\n';
    atEverySplit(b, b.length);
    const c = '1A\r\n' + 'x'.repeat(26) + '\r\n3;ext=1;q="a\\"b"\r\nabc\r\n0\r\nTrailer-A: 1\r\nB: two words\r\n\r\n';
    atEverySplit(c, c.length);
    const d = '0\r\n\r\n';
    atEverySplit(d, d.length);
    const e = '4 ;a = b ; c\r\nwxyz\r\n0\r\n\r\n';
    atEverySplit(e, e.length);
  });
  it('counts data bytes and skips data that looks like framing', () => {
    const sc = new ChunkedScanner();
    const body = Buffer.from('6\r\n0\r\n\r\nX\r\n0\r\n\r\n', 'latin1');
    assert.equal(sc.push(body), body.length);
    assert.equal(sc.done, true);
    assert.equal(sc.dataBytes, 6);
  });
  it('rejects bad chunk sizes', () => {
    assert.match(fails('x\r\n'), /chunk size/);
    fails('\r\n');
    fails('-1\r\n');
    fails('0x5\r\nhello\r\n0\r\n\r\n');
    fails('5 \r\nhello\r\n0\r\n\r\n');
    fails(' 5\r\nhello\r\n0\r\n\r\n');
    assert.match(fails('1000000000000000\r\n'), /chunk size too large/);
    assert.match(fails('0000000000000000\r\n'), /too many digits/);
    fails('00000000000000001\r\nx\r\n0\r\n\r\n');
  });
  it('rejects bare LF, bare CR, and wrong data lengths', () => {
    fails('5\nhello\r\n0\r\n\r\n');
    fails('5\rhello\r\n0\r\n\r\n');
    fails('5\r\nhello\n0\r\n\r\n');
    fails('5\r\nhelloX\r\n0\r\n\r\n');
    fails('0\r\n\n');
    fails('0\r\nX: y\n\r\n');
  });
  it('rejects bad extensions and trailers', () => {
    fails('5;\r\nhello\r\n0\r\n\r\n');
    fails('5;a=\r\nhello\r\n0\r\n\r\n');
    fails('5;a="x\r\nhello\r\n0\r\n\r\n');
    fails('5;a@b\r\nhello\r\n0\r\n\r\n');
    fails('0\r\nX : y\r\n\r\n');
    fails('0\r\n folded\r\n\r\n');
    fails('0\r\nX: a\x00b\r\n\r\n');
    fails('0\r\n: b\r\n\r\n');
  });
  it('bounds extension and trailer sizes', () => {
    const sc = new ChunkedScanner({ maxExtensionBytes: 8, maxTrailerBytes: 16, maxTrailerCount: 1 });
    assert.equal(sc.push(Buffer.from('1;aaaaaaaaaaaa\r\n')), -1);
    const t = new ChunkedScanner({ maxExtensionBytes: 8, maxTrailerBytes: 16, maxTrailerCount: 1 });
    assert.equal(t.push(Buffer.from('0\r\nA: 1\r\nB: 2\r\n\r\n')), -1);
    const u = new ChunkedScanner({ maxExtensionBytes: 8, maxTrailerBytes: 16, maxTrailerCount: 5 });
    assert.equal(u.push(Buffer.from('0\r\nA: 11111111111111111111\r\n\r\n')), -1);
  });
  it('stops at the end and leaves the next message alone; reset reuses it', () => {
    const sc = new ChunkedScanner();
    const buf = Buffer.from('0\r\n\r\nGET / HTTP/1.1\r\n');
    assert.equal(sc.push(buf), 5);
    assert.equal(sc.push(buf, 5), 5);
    sc.reset();
    assert.equal(sc.done, false);
    assert.equal(sc.push(Buffer.from('2\r\nab\r\n0\r\n\r\n')), 12);
  });
});
