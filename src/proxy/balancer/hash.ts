/**
 * 32-bit string hash for hash rings and request keys: FNV-1a over UTF-16 code units, then
 * murmur3's finaliser. FNV-1a alone clusters similar strings ("ep#1", "ep#2"); the finaliser
 * spreads them over the whole ring. Written here because it runs per request and must not
 * allocate (node:crypto digests allocate a Hash object and a Buffer each time).
 */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
