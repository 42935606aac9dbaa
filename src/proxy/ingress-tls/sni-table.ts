/**
 * Which certificate answers a TLS ClientHello's server name. Exact names win over wildcards;
 * a wildcard `*.example.com` covers exactly one label (`a.example.com`, not `example.com` nor
 * `a.b.example.com`), as RFC 6125 §6.4.3 lets a client accept it. A client that sends no name,
 * or a name no entry serves, gets the default entry (the first): the client then reports a
 * name mismatch it can show, rather than a bare handshake failure.
 */
export class SniTable<T> {
  private readonly exact = new Map<string, T>();
  private readonly wildcard = new Map<string, T>();

  /** `entries` in priority order: for a name two entries claim, the first one keeps it. */
  constructor(
    entries: readonly { names: readonly string[]; value: T }[],
    readonly fallback: T,
  ) {
    for (const e of entries) {
      for (const raw of e.names) {
        const name = raw.toLowerCase();
        if (name.startsWith('*.')) {
          const suffix = name.slice(1); // ".example.com"
          if (!this.wildcard.has(suffix)) this.wildcard.set(suffix, e.value);
        } else if (!this.exact.has(name)) {
          this.exact.set(name, e.value);
        }
      }
    }
  }

  /** The entry for a server name (from untrusted input: any string, possibly empty). */
  lookup(serverName: string | undefined): T {
    if (serverName === undefined || serverName === '') return this.fallback;
    const name = serverName.toLowerCase().replace(/\.$/, '');
    const hit = this.exact.get(name);
    if (hit !== undefined) return hit;
    const dot = name.indexOf('.');
    if (dot > 0) {
      const w = this.wildcard.get(name.slice(dot));
      if (w !== undefined) return w;
    }
    return this.fallback;
  }

  /** Whether the name is served by an entry of its own (not the fallback). */
  has(serverName: string): boolean {
    const name = serverName.toLowerCase().replace(/\.$/, '');
    const dot = name.indexOf('.');
    return this.exact.has(name) || (dot > 0 && this.wildcard.has(name.slice(dot)));
  }
}
