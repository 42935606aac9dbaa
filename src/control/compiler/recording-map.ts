/**
 * A read-only view of a map that records, in `read`, the input key of every key looked up
 * (`get`, `has`), so the cluster builder learns what a route read without the route compiler
 * knowing about dependencies. Iterating reads every key: it records them all and the wildcard
 * `keyOf('*')`, which CompileInputs.changedSince reports whenever any key of that kind changes
 * (a key added later is then seen too).
 */
export class RecordingMap<V> implements ReadonlyMap<string, V> {
  constructor(
    private readonly inner: ReadonlyMap<string, V>,
    private readonly keyOf: (k: string) => string,
    private readonly read: Set<string>,
  ) {}

  get(k: string): V | undefined {
    this.read.add(this.keyOf(k));
    return this.inner.get(k);
  }

  has(k: string): boolean {
    this.read.add(this.keyOf(k));
    return this.inner.has(k);
  }

  get size(): number {
    this.readAll();
    return this.inner.size;
  }

  forEach(f: (value: V, key: string, map: ReadonlyMap<string, V>) => void): void {
    this.readAll();
    for (const [k, v] of this.inner) f(v, k, this);
  }

  entries(): MapIterator<[string, V]> {
    this.readAll();
    return this.inner.entries();
  }

  keys(): MapIterator<string> {
    this.readAll();
    return this.inner.keys();
  }

  values(): MapIterator<V> {
    this.readAll();
    return this.inner.values();
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  private readAll(): void {
    this.read.add(this.keyOf('*'));
    for (const k of this.inner.keys()) this.read.add(this.keyOf(k));
  }
}
