/**
 * Per-caller GCRA buckets with a fixed ceiling on memory: at most `capacity` callers are
 * remembered; a new caller past it takes the place of the one seen least recently (LRU).
 *
 * Why forgetting is safe: a bucket holds only its TAT, and a bucket whose TAT has passed is
 * full, exactly as a new one. The least recently seen caller is the one most likely to be
 * full again, so evicting it usually changes nothing; at worst a caller that was throttled and
 * then silent for longer than every other caller's last request gets a fresh burst. The cost of
 * being wrong is bounded by one burst per eviction; the alternative, remembering every
 * identity ever seen, is unbounded memory under many identities.
 *
 * Layout: a Map from the caller's SPIFFE ID to a slot; per slot the TAT (a Float64Array) and
 * the LRU links (two Int32Arrays), grown by doubling up to `capacity`. A hit moves a slot to
 * the front with a few array writes; nothing is allocated per request once a caller is known.
 * Keys are the identity strings the codec already holds for the connection.
 */
export const DEFAULT_IDENTITY_CAPACITY = 10_000;

const NONE = -1;

export class IdentityBuckets {
  private readonly index = new Map<string, number>();
  private keys: (string | undefined)[] = [];
  private tats = new Float64Array(0);
  private prev = new Int32Array(0);
  private nextSlot = new Int32Array(0);
  private head = NONE;
  private tail = NONE;
  private used = 0;
  /** Callers forgotten to make room (for tests and the config dump). */
  evictions = 0;

  constructor(readonly capacity: number = DEFAULT_IDENTITY_CAPACITY) {
    if (!(capacity >= 1)) throw new Error('capacity must be at least 1');
  }

  /** Callers remembered now (at most `capacity`). */
  get size(): number {
    return this.used;
  }

  /** Slots allocated (grows by doubling up to `capacity`, never shrinks). */
  get allocated(): number {
    return this.tats.length;
  }

  /** The slot of `key`, made (or taken from the least recently seen) when new; marks it most recent. */
  slot(key: string): number {
    const found = this.index.get(key);
    if (found !== undefined) {
      this.touch(found);
      return found;
    }
    let s: number;
    if (this.used < this.capacity) {
      if (this.used === this.tats.length) this.grow();
      s = this.used++;
    } else {
      s = this.tail;
      this.unlink(s);
      this.index.delete(this.keys[s] as string);
      this.evictions++;
    }
    this.keys[s] = key;
    this.tats[s] = 0; // a full bucket
    this.index.set(key, s);
    this.pushFront(s);
    return s;
  }

  tat(slot: number): number {
    return this.tats[slot] as number;
  }

  setTat(slot: number, tat: number): void {
    this.tats[slot] = tat;
  }

  /** Whether `key` is remembered (does not touch it). */
  has(key: string): boolean {
    return this.index.has(key);
  }

  private touch(s: number): void {
    if (this.head === s) return;
    this.unlink(s);
    this.pushFront(s);
  }

  private unlink(s: number): void {
    const p = this.prev[s] as number;
    const n = this.nextSlot[s] as number;
    if (p !== NONE) this.nextSlot[p] = n;
    else this.head = n;
    if (n !== NONE) this.prev[n] = p;
    else this.tail = p;
  }

  private pushFront(s: number): void {
    this.prev[s] = NONE;
    this.nextSlot[s] = this.head;
    if (this.head !== NONE) this.prev[this.head] = s;
    this.head = s;
    if (this.tail === NONE) this.tail = s;
  }

  private grow(): void {
    const n = Math.min(this.capacity, Math.max(16, this.tats.length * 2));
    const tats = new Float64Array(n);
    tats.set(this.tats);
    const prev = new Int32Array(n);
    prev.set(this.prev);
    const next = new Int32Array(n);
    next.set(this.nextSlot);
    this.tats = tats;
    this.prev = prev;
    this.nextSlot = next;
    this.keys.length = n;
  }
}
