import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HpackFieldScanner, ScanResult } from './hpack-scan.js';
import { TestHpackEncoder } from './hpack-test-encoder.js';
import type { EncodeField, Representation } from './hpack-test-encoder.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function scanAll(blocks: string[], prefix = ''): number[] {
  const s = new HpackFieldScanner();
  return blocks.map((b, i) => {
    const block = hex((i === 0 ? prefix : '') + b);
    assert.equal(s.scanBlock(block, 0, block.length), ScanResult.Clean);
    return s.tableSize;
  });
}

test('RFC 7541 C.3 and C.4: requests with and without Huffman leave the RFC table sizes', () => {
  assert.deepEqual(
    scanAll([
      '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '8286 84be 5808 6e6f 2d63 6163 6865',
      '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
    ]),
    [57, 110, 164],
  );
  assert.deepEqual(
    scanAll([
      '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
      '8286 84be 5886 a8eb 1064 9cbf',
      '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
    ]),
    [57, 110, 164],
  );
});

test('RFC 7541 C.5 and C.6: responses in a 256-octet table, with eviction', () => {
  const sizeUpdate256 = '3fe101';
  assert.deepEqual(
    scanAll(
      [
        '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
        '4803 3330 37c1 c0bf',
        '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
      ],
      sizeUpdate256,
    ),
    [222, 222, 215],
  );
  assert.deepEqual(
    scanAll(
      [
        '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
        '4883 640e ffc1 c0bf',
        '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
      ],
      sizeUpdate256,
    ),
    [222, 222, 215],
  );
});

test('broken HPACK is reported, not thrown: index 0, an index past the table, a truncated string, a size update after a field or over the setting', () => {
  const s = (): HpackFieldScanner => new HpackFieldScanner();
  for (const b of ['80', 'be', '0f2f', '4003 6162', '82 3fe101', '3fe21f']) {
    const block = hex(b);
    assert.equal(s().scanBlock(block, 0, block.length), ScanResult.Broken, b);
  }
});

/**
 * The rules restated with strings and regular expressions, independently of the octet class
 * table: would nghttp2 drop this field silently?
 */
function droppedByOracle(name: string, value: string): boolean {
  if (name.length === 0) return true;
  if (name.startsWith(':') || /[A-Z]/.test(name)) return false; // nghttp2 resets these itself
  if (!/^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(name)) return true;
  if (name === 'host') return !/^[-._~!$&'()*+,;=:@[\]%0-9A-Za-z]*$/.test(value);
  const control = [...value].some((ch) => {
    const c = ch.charCodeAt(0);
    return (c < 0x20 && c !== 0x09) || c === 0x7f;
  });
  return control || /^[ \t]|[ \t]$/.test(value);
}

const octetString = (chars: string, maxLength: number): fc.Arbitrary<string> =>
  fc.array(fc.constantFrom(...chars.split('')), { maxLength }).map((a) => a.join(''));
const BAD = '\x00\r\n\t \x01\x7f\x80\xff@AZ:';
const nameArb = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom('host', 'user-agent', 'cookie', 'x-a', 'x-b', 'accept', 'content-type', 'grpc-timeout') },
  { weight: 2, arbitrary: octetString('abcxyz-_09' + BAD, 12) },
);
const valueArb = fc.oneof(
  { weight: 4, arbitrary: octetString('abcdefghijklmnopqrstuvwxyz0123456789 /.:;=-_', 40) },
  { weight: 2, arbitrary: octetString('ab' + BAD, 10) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 30 }).map((a) => Buffer.from(a).toString('latin1')) },
);
const fieldArb: fc.Arbitrary<EncodeField> = fc.record({
  name: nameArb,
  value: valueArb,
  as: fc.constantFrom<Representation>('indexed', 'incremental', 'without', 'never'),
  huffman: fc.boolean(),
  indexName: fc.boolean(),
});
const blockArb = fc.record({
  sizeUpdate: fc.option(fc.integer({ min: 0, max: 4096 }), { freq: 8 }),
  fields: fc.array(fieldArb, { maxLength: 12 }),
});

test('fuzz: against an independent encoder, the scanner keeps the same table size and flags exactly the blocks with a dropped field', () => {
  fc.assert(
    fc.property(fc.array(blockArb, { minLength: 1, maxLength: 30 }), (blocks) => {
      const enc = new TestHpackEncoder();
      const scanner = new HpackFieldScanner();
      for (const b of blocks) {
        if (b.sizeUpdate !== null) enc.setTableSize(b.sizeUpdate);
        const block = enc.encode(b.fields);
        const expected = b.fields.some((f) => droppedByOracle(String(f.name), String(f.value)));
        assert.equal(scanner.scanBlock(block, 0, block.length), expected ? ScanResult.Malformed : ScanResult.Clean);
        assert.equal(scanner.tableSize, enc.dynamicSize);
      }
    }),
    { seed: 20240, numRuns: 400 },
  );
});
