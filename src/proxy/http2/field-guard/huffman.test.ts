import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HUFFMAN_CODES, HUFFMAN_LENGTHS, huffmanEncode, scanHuffman } from './huffman.js';
import type { StringFacts } from './huffman.js';

/** Classes where each octet is its own bit pattern would not fit a byte; use octet -> (octet & 0x7f) | 0x80 to see first/last. */
const IDENTITY = Uint8Array.from({ length: 256 }, (_, i) => i);
const facts = (): StringFacts => ({ length: 0, firstClass: 0, restClass: 0, lastClass: 0, head4: 0 });
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('the canonical codes rebuilt from the lengths match RFC 7541 Appendix B where spot-checked', () => {
  // ' ' (32) 010100 (6 bits), '0' 00000 (5), 'a' 00011 (5), 'A' 100001 (6), '{' 1111111111111110 (15), EOS 30 ones.
  assert.deepEqual([HUFFMAN_CODES[32], HUFFMAN_LENGTHS[32]], [0x14, 6]);
  assert.deepEqual([HUFFMAN_CODES[48], HUFFMAN_LENGTHS[48]], [0x0, 5]);
  assert.deepEqual([HUFFMAN_CODES[97], HUFFMAN_LENGTHS[97]], [0x3, 5]);
  assert.deepEqual([HUFFMAN_CODES[65], HUFFMAN_LENGTHS[65]], [0x21, 6]);
  assert.deepEqual([HUFFMAN_CODES[123], HUFFMAN_LENGTHS[123]], [0x7ffe, 15]);
  assert.deepEqual([HUFFMAN_CODES[256], HUFFMAN_LENGTHS[256]], [0x3fffffff, 30]);
  assert.deepEqual([HUFFMAN_CODES[10], HUFFMAN_LENGTHS[10]], [0x3ffffffc, 30]); // LF
  assert.deepEqual([HUFFMAN_CODES[0], HUFFMAN_LENGTHS[0]], [0x1ff8, 13]); // NUL
});

test('RFC 7541 Appendix C strings encode to the RFC bytes and scan back to their length', () => {
  const cases: [string, string][] = [
    ['www.example.com', 'f1e3 c2e5 f23a 6ba0 ab90 f4ff'],
    ['no-cache', 'a8eb 1064 9cbf'],
    ['custom-key', '25a8 49e9 5ba9 7d7f'],
    ['custom-value', '25a8 49e9 5bb8 e8b4 bf'],
    ['302', '6402'],
    ['private', 'aec3 771a 4b'],
    ['Mon, 21 Oct 2013 20:13:21 GMT', 'd07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff'],
    ['https://www.example.com', '9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3'],
  ];
  for (const [text, coded] of cases) {
    assert.deepEqual(Buffer.from(huffmanEncode(Buffer.from(text, 'latin1'))), hex(coded), text);
    const f = facts();
    assert.equal(scanHuffman(hex(coded), 0, hex(coded).length, IDENTITY, f), true, text);
    assert.equal(f.length, text.length, text);
    assert.equal(f.firstClass, text.charCodeAt(0));
    assert.equal(f.lastClass, text.charCodeAt(text.length - 1));
  }
});

test('any octet string survives encode then scan: its length, first, last and OR of the rest', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (octets) => {
      const coded = huffmanEncode(octets);
      const f = facts();
      assert.equal(scanHuffman(coded, 0, coded.length, IDENTITY, f), true);
      assert.equal(f.length, octets.length);
      if (octets.length > 0) {
        assert.equal(f.firstClass, octets[0]);
        assert.equal(f.lastClass, octets[octets.length - 1]);
        assert.equal(f.restClass, octets.subarray(1).reduce((a, b) => a | b, 0));
        let head = 0;
        for (const o of octets.subarray(0, 4)) head = (head << 8) | o;
        assert.equal(f.head4, head >>> 0);
      }
    }),
    { seed: 7, numRuns: 300 },
  );
});

test('invalid codings are refused: padding longer than 7 bits, padding with a 0 bit, EOS inside the string', () => {
  const f = facts();
  // 'a' is 00011 (5 bits): 00011 111 is valid; 00011 111 11111111 pads 11 bits.
  assert.equal(scanHuffman(Buffer.from([0b00011111]), 0, 1, IDENTITY, f), true);
  assert.equal(scanHuffman(Buffer.from([0b00011111, 0xff]), 0, 2, IDENTITY, f), false);
  // 00011 110: padding not all ones.
  assert.equal(scanHuffman(Buffer.from([0b00011110]), 0, 1, IDENTITY, f), false);
  // EOS (30 ones) followed by padding: an explicit EOS is an error (RFC 7541 §5.2).
  assert.equal(scanHuffman(Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4, IDENTITY, f), false);
  // The empty string is fine.
  assert.equal(scanHuffman(Buffer.alloc(0), 0, 0, IDENTITY, f), true);
  assert.equal(f.length, 0);
});
