import { huffmanEncode } from './huffman.js';

/**
 * Test and bench support: an HPACK encoder that can say anything, including what Node's own
 * client refuses to send (CR, LF, NUL, upper case, spaces in names), in every representation
 * (indexed, literal with/without/never indexing, raw or Huffman strings, table size updates).
 * It keeps its own dynamic table of real strings, independent of the scanner under test.
 */

export type Representation = 'indexed' | 'incremental' | 'without' | 'never';

export interface EncodeField {
  name: Uint8Array | string;
  value: Uint8Array | string;
  /** Default 'without' (no table change). 'indexed' needs a matching entry, else falls back to 'incremental'. */
  as?: Representation;
  /** Huffman-code the literal strings (default false). */
  huffman?: boolean;
  /** For literals: reference the name by index when the table has it (default true). */
  indexName?: boolean;
}

const STATIC: readonly (readonly [string, string])[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];

const bytes = (s: Uint8Array | string): Buffer => (typeof s === 'string' ? Buffer.from(s, 'latin1') : Buffer.from(s));

export class TestHpackEncoder {
  private table: { name: Buffer; value: Buffer }[] = []; // newest first
  private size = 0;
  private max = 4096;
  private pendingSizeUpdates: number[] = [];

  /** Emits a dynamic table size update at the start of the next block. */
  setTableSize(size: number): void {
    this.pendingSizeUpdates.push(size);
  }

  get dynamicSize(): number {
    return this.size;
  }

  encode(fields: readonly EncodeField[]): Buffer {
    const out: number[] = [];
    for (const s of this.pendingSizeUpdates) {
      integer(out, 0x20, 5, s);
      this.max = s;
      this.evict(s);
    }
    this.pendingSizeUpdates = [];
    for (const f of fields) {
      const name = bytes(f.name);
      const value = bytes(f.value);
      const as = f.as ?? 'without';
      if (as === 'indexed') {
        const full = this.find(name, value);
        if (full > 0) {
          integer(out, 0x80, 7, full);
          continue;
        }
      }
      const nameIndex = f.indexName === false ? 0 : this.findName(name);
      const [pattern, prefix] = as === 'indexed' || as === 'incremental' ? [0x40, 6] : as === 'never' ? [0x10, 4] : [0x00, 4];
      integer(out, pattern, prefix, nameIndex);
      if (nameIndex === 0) literal(out, name, f.huffman === true);
      literal(out, value, f.huffman === true);
      if (pattern === 0x40) this.insert(name, value);
    }
    return Buffer.from(out);
  }

  private find(name: Buffer, value: Buffer): number {
    for (let i = 0; i < STATIC.length; i++) {
      if (name.equals(bytes(STATIC[i]![0])) && value.equals(bytes(STATIC[i]![1]))) return i + 1;
    }
    for (let i = 0; i < this.table.length; i++) {
      if (name.equals(this.table[i]!.name) && value.equals(this.table[i]!.value)) return STATIC.length + 1 + i;
    }
    return 0;
  }

  private findName(name: Buffer): number {
    for (let i = 0; i < STATIC.length; i++) if (name.equals(bytes(STATIC[i]![0]))) return i + 1;
    for (let i = 0; i < this.table.length; i++) if (name.equals(this.table[i]!.name)) return STATIC.length + 1 + i;
    return 0;
  }

  private insert(name: Buffer, value: Buffer): void {
    const size = name.length + value.length + 32;
    if (size > this.max) {
      this.table = [];
      this.size = 0;
      return;
    }
    this.evict(this.max - size);
    this.table.unshift({ name, value });
    this.size += size;
  }

  private evict(limit: number): void {
    while (this.size > limit && this.table.length > 0) {
      const e = this.table.pop()!;
      this.size -= e.name.length + e.value.length + 32;
    }
  }
}

function integer(out: number[], pattern: number, prefixBits: number, value: number): void {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    out.push(pattern | value);
    return;
  }
  out.push(pattern | mask);
  let rest = value - mask;
  while (rest >= 128) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
}

function literal(out: number[], s: Buffer, huffman: boolean): void {
  const data = huffman ? huffmanEncode(s) : s;
  integer(out, huffman ? 0x80 : 0, 7, data.length);
  for (const b of data) out.push(b);
}
