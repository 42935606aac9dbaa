import { isSilentlyDropped, nameKindOf, NameKind, OCTET_CLASSES } from './field-rules.js';
import { scanHuffman, scanRaw } from './huffman.js';
import type { StringFacts } from './huffman.js';

/**
 * A shadow HPACK decoder (RFC 7541) that keeps the same dynamic table as the server's own
 * decoder (nghttp2) and tells, for each header block, whether it holds a field that nghttp2
 * will drop silently (field-rules.ts).
 *
 * It never materialises a field: a table entry is kept as its size, its name's kind and its
 * verdict, and strings are checked as they are decoded (huffman.ts). That keeps the cost per
 * request to one pass over the block's bytes with no allocation.
 *
 * Hand-written because it sits on the proxy's hot path and needs what no npm HPACK package
 * offers: a decoder that validates without building strings. The candidates are not kept
 * either: `hpack.js` (stream-based, readable-stream v2, no release since 2016) and `hpack`
 * (one 1.0.0 release). It is checked against RFC 7541's examples, against a fuzzing encoder,
 * and against nghttp2 itself over real sockets (field-guard.test.ts).
 */

export const ScanResult = {
  /** Every field passes through nghttp2 as sent. */
  Clean: 0,
  /** At least one field will be dropped silently: the request is malformed. */
  Malformed: 1,
  /** Not valid HPACK (nghttp2 answers with a connection error). The table may now differ from nghttp2's. */
  Broken: 2,
} as const;
export type ScanResult = (typeof ScanResult)[keyof typeof ScanResult];

/** RFC 7541 Appendix A: the static table's names (index 1..61). Their values are all valid fields. */
const STATIC_NAMES = [
  ':authority', ':method', ':method', ':path', ':path', ':scheme', ':scheme', ':status', ':status', ':status',
  ':status', ':status', ':status', ':status', 'accept-charset', 'accept-encoding', 'accept-language',
  'accept-ranges', 'accept', 'access-control-allow-origin', 'age', 'allow', 'authorization', 'cache-control',
  'content-disposition', 'content-encoding', 'content-language', 'content-length', 'content-location',
  'content-range', 'content-type', 'cookie', 'date', 'etag', 'expect', 'expires', 'from', 'host', 'if-match',
  'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified', 'link', 'location',
  'max-forwards', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer', 'refresh', 'retry-after',
  'server', 'set-cookie', 'strict-transport-security', 'transfer-encoding', 'user-agent', 'vary', 'via',
  'www-authenticate',
];
const STATIC_COUNT = STATIC_NAMES.length; // 61
const STATIC_NAME_LENGTHS = Uint8Array.from(STATIC_NAMES, (n) => n.length);
const STATIC_NAME_KINDS = Uint8Array.from(STATIC_NAMES, (n) =>
  n.startsWith(':') ? NameKind.Pseudo : n === 'host' ? NameKind.Host : NameKind.Regular,
);

/** RFC 7541 §4.1: an entry's size is its name's and value's lengths plus 32. */
const ENTRY_OVERHEAD = 32;
/** HPACK integers past this are refused: nghttp2 caps them well below (header sizes, table indices). */
const MAX_INTEGER = 2 ** 28;

export class HpackFieldScanner {
  // The dynamic table as a ring, newest at `newest`: per entry its size, its name's length and
  // kind, and whether the field it holds is dropped by nghttp2.
  private readonly sizes: Int32Array;
  private readonly nameLengths: Int32Array;
  private readonly nameKinds: Uint8Array;
  private readonly dropped: Uint8Array;
  private newest = 0;
  private count = 0;
  private bytes = 0;
  private maxBytes = 4096; // RFC 7541 / RFC 9113 initial SETTINGS_HEADER_TABLE_SIZE
  private readonly name: StringFacts = { length: 0, firstClass: 0, restClass: 0, lastClass: 0, head4: 0 };
  private readonly value: StringFacts = { length: 0, firstClass: 0, restClass: 0, lastClass: 0, head4: 0 };
  private pos = 0;

  /** `settingsMax`: the SETTINGS_HEADER_TABLE_SIZE the server advertises (size updates above it are refused). */
  constructor(private readonly settingsMax = 4096) {
    const capacity = Math.floor(Math.max(settingsMax, 4096) / ENTRY_OVERHEAD) + 1;
    this.sizes = new Int32Array(capacity);
    this.nameLengths = new Int32Array(capacity);
    this.nameKinds = new Uint8Array(capacity);
    this.dropped = new Uint8Array(capacity);
  }

  /** Current dynamic table size in HPACK octets (for tests). */
  get tableSize(): number {
    return this.bytes;
  }

  /** Decodes one complete header block buf[start, end), updating the dynamic table. */
  scanBlock(buf: Uint8Array, start: number, end: number): ScanResult {
    this.pos = start;
    let malformed = false;
    let fieldsSeen = false;
    while (this.pos < end) {
      const b = buf[this.pos]!;
      if (b >= 0x80) {
        // Indexed field (§6.1).
        const index = this.integer(buf, end, 7);
        if (index <= 0) return ScanResult.Broken;
        if (index > STATIC_COUNT) {
          const slot = this.slotOf(index - STATIC_COUNT - 1);
          if (slot < 0) return ScanResult.Broken;
          if (this.dropped[slot] === 1) malformed = true;
        }
        fieldsSeen = true;
      } else if (b >= 0x40 || b < 0x20) {
        // Literal field (§6.2): with incremental indexing (01), without (0000) or never indexed (0001).
        const indexing = b >= 0x40;
        if (!indexing && b >= 0x20) return ScanResult.Broken;
        const index = this.integer(buf, end, indexing ? 6 : 4);
        if (index < 0) return ScanResult.Broken;
        let kind: NameKind;
        let nameLength: number;
        if (index === 0) {
          if (!this.string(buf, end, this.name)) return ScanResult.Broken;
          kind = nameKindOf(this.name);
          nameLength = this.name.length;
        } else if (index <= STATIC_COUNT) {
          kind = STATIC_NAME_KINDS[index - 1]! as NameKind;
          nameLength = STATIC_NAME_LENGTHS[index - 1]!;
        } else {
          const slot = this.slotOf(index - STATIC_COUNT - 1);
          if (slot < 0) return ScanResult.Broken;
          kind = this.nameKinds[slot]! as NameKind;
          nameLength = this.nameLengths[slot]!;
        }
        if (!this.string(buf, end, this.value)) return ScanResult.Broken;
        const drop = isSilentlyDropped(kind, this.value);
        if (drop) malformed = true;
        if (indexing) this.insert(nameLength + this.value.length + ENTRY_OVERHEAD, nameLength, kind, drop);
        fieldsSeen = true;
      } else {
        // Dynamic table size update (§6.3): only before the block's first field (§4.2).
        if (fieldsSeen) return ScanResult.Broken;
        const size = this.integer(buf, end, 5);
        if (size < 0 || size > this.settingsMax) return ScanResult.Broken;
        this.maxBytes = size;
        this.evictTo(size);
      }
    }
    return malformed ? ScanResult.Malformed : ScanResult.Clean;
  }

  /** An HPACK integer with an N-bit prefix (§5.1) at this.pos; -1 when truncated or too large. */
  private integer(buf: Uint8Array, end: number, prefixBits: number): number {
    const mask = (1 << prefixBits) - 1;
    let value = buf[this.pos++]! & mask;
    if (value < mask) return value;
    let scale = 1;
    while (true) {
      if (this.pos >= end) return -1;
      const b = buf[this.pos++]!;
      value += (b & 0x7f) * scale;
      if (value > MAX_INTEGER) return -1;
      if ((b & 0x80) === 0) return value;
      scale *= 128;
    }
  }

  /** A string literal (§5.2) at this.pos, checked into `facts`; false when malformed. */
  private string(buf: Uint8Array, end: number, facts: StringFacts): boolean {
    if (this.pos >= end) return false;
    const huffman = (buf[this.pos]! & 0x80) !== 0;
    const length = this.integer(buf, end, 7);
    if (length < 0 || length > end - this.pos) return false;
    const from = this.pos;
    this.pos += length;
    if (huffman) return scanHuffman(buf, from, from + length, OCTET_CLASSES, facts);
    scanRaw(buf, from, from + length, OCTET_CLASSES, facts);
    return true;
  }

  /** The ring slot of dynamic index `i` (0 = newest), or -1. */
  private slotOf(i: number): number {
    if (i >= this.count) return -1;
    const cap = this.sizes.length;
    return (this.newest - i + cap) % cap;
  }

  private insert(size: number, nameLength: number, kind: NameKind, drop: boolean): void {
    if (size > this.maxBytes) {
      // §4.4: an entry larger than the table empties it and is not added.
      this.evictTo(0);
      return;
    }
    this.evictTo(this.maxBytes - size);
    const cap = this.sizes.length;
    this.newest = (this.newest + 1) % cap;
    this.sizes[this.newest] = size;
    this.nameLengths[this.newest] = nameLength;
    this.nameKinds[this.newest] = kind;
    this.dropped[this.newest] = drop ? 1 : 0;
    this.count++;
    this.bytes += size;
  }

  /** Evicts the oldest entries until the table holds at most `limit` octets. */
  private evictTo(limit: number): void {
    const cap = this.sizes.length;
    while (this.bytes > limit && this.count > 0) {
      const oldest = (this.newest - this.count + 1 + cap) % cap;
      this.bytes -= this.sizes[oldest]!;
      this.count--;
    }
  }
}
