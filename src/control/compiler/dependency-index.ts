/**
 * Which compiled items (a cluster, a group of proxies with the same upstreams) read which
 * inputs, both ways: `dependents(changedInputs)` answers "what must be rebuilt", `set(item, deps)`
 * replaces an item's inputs after it was rebuilt (inputs it no longer reads stop pointing at it),
 * `remove(item)` forgets it. Inputs and items are opaque strings (input-keys.ts names the inputs).
 */
export class DependencyIndex {
  private readonly byInput = new Map<string, Set<string>>();
  private readonly byItem = new Map<string, ReadonlySet<string>>();

  /** Records that `item` reads exactly `inputs` (replacing what it read before). */
  set(item: string, inputs: Iterable<string>): void {
    this.remove(item);
    const own = new Set(inputs);
    this.byItem.set(item, own);
    for (const input of own) {
      let items = this.byInput.get(input);
      if (items === undefined) this.byInput.set(input, (items = new Set()));
      items.add(item);
    }
  }

  remove(item: string): void {
    const own = this.byItem.get(item);
    if (own === undefined) return;
    this.byItem.delete(item);
    for (const input of own) {
      const items = this.byInput.get(input);
      if (items === undefined) continue;
      items.delete(item);
      if (items.size === 0) this.byInput.delete(input);
    }
  }

  /** Every item that reads at least one of `inputs`. */
  dependents(inputs: Iterable<string>): Set<string> {
    const out = new Set<string>();
    for (const input of inputs) for (const item of this.byInput.get(input) ?? []) out.add(item);
    return out;
  }

  /** The inputs `item` reads (empty when unknown). */
  inputsOf(item: string): ReadonlySet<string> {
    return this.byItem.get(item) ?? new Set();
  }

  has(item: string): boolean {
    return this.byItem.has(item);
  }

  clear(): void {
    this.byInput.clear();
    this.byItem.clear();
  }

  /** Items and inputs tracked (tests, metrics). */
  get size(): { items: number; inputs: number } {
    return { items: this.byItem.size, inputs: this.byInput.size };
  }
}
