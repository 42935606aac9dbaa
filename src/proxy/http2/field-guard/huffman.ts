/**
 * HPACK's static Huffman code (RFC 7541 Appendix B) as a decoder that never allocates: it walks
 * a Huffman-coded string and reports its decoded length and the character classes it contains,
 * which is all the field guard needs (it checks fields, it never forwards them).
 *
 * The code is canonical (codes of one length are consecutive and ordered by symbol), so the
 * 257 code lengths below define it completely; the codes are rebuilt from them at load time.
 * Decoding runs a nibble-driven state machine, as nghttp2 does: one state per internal node of
 * the code tree (256 of them), 16 transitions each. Every code is at least 5 bits long, so a
 * nibble emits at most one symbol.
 */

/** RFC 7541 Appendix B: code length in bits of symbols 0..255 and of EOS (256). */
const CODE_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

const EOS = 256;

/** Canonical codes (right-aligned in `bits` bits) of symbols 0..256. */
export const HUFFMAN_CODES: readonly number[] = buildCanonicalCodes(CODE_LENGTHS);
export const HUFFMAN_LENGTHS: readonly number[] = CODE_LENGTHS;

function buildCanonicalCodes(lengths: readonly number[]): number[] {
  const order = lengths.map((_, s) => s).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const codes = new Array<number>(lengths.length).fill(0);
  let code = 0;
  let prev = lengths[order[0]!]!;
  for (let i = 0; i < order.length; i++) {
    const s = order[i]!;
    const len = lengths[s]!;
    if (i > 0) code = (code + 1) * 2 ** (len - prev); // (code + 1) << shift, without 32-bit overflow
    prev = len;
    codes[s] = code;
  }
  return codes;
}

// Transition table: TRANSITIONS[state * 16 + nibble] =
//   next state (bits 0-7) | (symbol + 1) << 8 (0: none; bits 8-16) | FAIL (bit 17: EOS decoded).
const FAIL = 1 << 17;
const TRANSITIONS = new Int32Array(256 * 16);
/** 1 when ending a string in this state is allowed: at a symbol boundary, or in at most 7 bits of 1s (EOS's prefix). */
const ACCEPTS = new Uint8Array(256);

buildDecoder();

function buildDecoder(): void {
  // The code tree: node 0 is the root; children[node*2 + bit] >= 0 is an internal node,
  // -(symbol + 1) is a leaf.
  const children = new Int32Array(512 * 2).fill(0);
  const depth = new Uint8Array(512);
  const allOnes = new Uint8Array(512);
  allOnes[0] = 1;
  let nodes = 1;
  for (let s = 0; s <= EOS; s++) {
    const len = CODE_LENGTHS[s]!;
    const code = HUFFMAN_CODES[s]!;
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const bit = Math.floor(code / 2 ** i) % 2;
      const slot = node * 2 + bit;
      if (i === 0) {
        children[slot] = -(s + 1);
      } else {
        if (children[slot] === 0) {
          children[slot] = nodes;
          depth[nodes] = depth[node]! + 1;
          allOnes[nodes] = allOnes[node]! === 1 && bit === 1 ? 1 : 0;
          nodes++;
        }
        node = children[slot]!;
      }
    }
  }
  if (nodes !== 256) throw new Error(`HPACK Huffman table is not a full tree (${nodes} internal nodes)`);
  for (let state = 0; state < 256; state++) {
    ACCEPTS[state] = state === 0 || (allOnes[state] === 1 && depth[state]! <= 7) ? 1 : 0;
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let emitted = 0;
      let failed = false;
      for (let i = 3; i >= 0; i--) {
        const next = children[node * 2 + ((nibble >> i) & 1)]!;
        if (next < 0) {
          const symbol = -next - 1;
          if (symbol === EOS) failed = true;
          emitted = symbol + 1;
          node = 0;
        } else {
          node = next;
        }
      }
      TRANSITIONS[state * 16 + nibble] = node | (emitted << 8) | (failed ? FAIL : 0);
    }
  }
}

/** What `scanHuffman` and `scanRaw` learned about one string; reused, so read it at once. */
export interface StringFacts {
  /** Decoded length in octets. */
  length: number;
  /** CLASS of the first octet (0 when empty). */
  firstClass: number;
  /** OR of CLASS over every octet but the first. */
  restClass: number;
  /** CLASS of the last octet (0 when empty). */
  lastClass: number;
  /** The first four octets, big-endian (to recognise short names such as `host`). */
  head4: number;
}

/**
 * Decodes the Huffman-coded string in buf[start, end) and fills `facts` with its decoded
 * length and the classes (`classes[octet]`) of its octets. Returns false when the coding is
 * invalid (EOS in the string, or padding longer than 7 bits or not all 1s: RFC 7541 §5.2),
 * which the peer's decoder treats as a COMPRESSION_ERROR.
 */
export function scanHuffman(buf: Uint8Array, start: number, end: number, classes: Uint8Array, facts: StringFacts): boolean {
  let state = 0;
  let length = 0;
  let first = 0;
  let rest = 0;
  let last = 0;
  let head4 = 0;
  for (let i = start; i < end; i++) {
    const byte = buf[i]!;
    // High nibble, then low nibble (unrolled: this loop is the guard's hot spot).
    let t = TRANSITIONS[(state << 4) | (byte >> 4)]!;
    let symbol = (t >> 8) & 0x1ff;
    if (symbol !== 0) {
      if ((t & FAIL) !== 0) return false;
      const c = classes[symbol - 1]!;
      if (length === 0) first = c;
      else rest |= c;
      last = c;
      if (length < 4) head4 = (head4 << 8) | (symbol - 1);
      length++;
    }
    t = TRANSITIONS[((t & 0xff) << 4) | (byte & 15)]!;
    symbol = (t >> 8) & 0x1ff;
    if (symbol !== 0) {
      if ((t & FAIL) !== 0) return false;
      const c = classes[symbol - 1]!;
      if (length === 0) first = c;
      else rest |= c;
      last = c;
      if (length < 4) head4 = (head4 << 8) | (symbol - 1);
      length++;
    }
    state = t & 0xff;
  }
  if (ACCEPTS[state] !== 1) return false;
  facts.length = length;
  facts.firstClass = first;
  facts.restClass = rest;
  facts.lastClass = last;
  facts.head4 = head4 >>> 0;
  return true;
}

/** The same facts for a string sent as raw octets. */
export function scanRaw(buf: Uint8Array, start: number, end: number, classes: Uint8Array, facts: StringFacts): void {
  let rest = 0;
  let head4 = 0;
  for (let i = start; i < end && i < start + 4; i++) head4 = (head4 << 8) | buf[i]!;
  for (let i = start + 1; i < end; i++) rest |= classes[buf[i]!]!;
  facts.length = end - start;
  facts.firstClass = end > start ? classes[buf[start]!]! : 0;
  facts.restClass = rest;
  facts.lastClass = end > start ? classes[buf[end - 1]!]! : 0;
  facts.head4 = head4 >>> 0;
}

/** Huffman-encodes `octets` (tests and the bench use it to build hostile requests). */
export function huffmanEncode(octets: Uint8Array): Uint8Array {
  let bits = 0;
  for (const o of octets) bits += CODE_LENGTHS[o]!;
  const out = new Uint8Array(Math.ceil(bits / 8)).fill(0xff); // padding: the EOS prefix, all 1s
  let pos = 0;
  for (const o of octets) {
    const code = HUFFMAN_CODES[o]!;
    for (let i = CODE_LENGTHS[o]! - 1; i >= 0; i--, pos++) {
      if (Math.floor(code / 2 ** i) % 2 === 0) out[pos >> 3] = out[pos >> 3]! & ~(0x80 >> (pos & 7));
    }
  }
  return out;
}
