/**
 * Hostname matching for route tables (Gateway API `spec.hostnames` of HTTPRoute and GRPCRoute).
 *
 * Candidates are bucketed at compile time by the hostnames of their route, and each bucket
 * keeps the Gateway API's precedence order, so the lookup is: the exact bucket for the request's
 * host, then each wildcard bucket whose suffix the host ends with (longest suffix first), then
 * the routes without hostnames. That is the spec's order: "precedence must be given to rules
 * from the HTTPRoute with the largest number of characters in a matching non-wildcard hostname,
 * then characters in a matching hostname"; a route without hostnames matches any host with
 * zero characters. A request that matches nothing in a more specific bucket falls through to
 * the next one, as precedence (not selection) demands.
 *
 * Hand-written because it is on the request path: one Map lookup and a few `endsWith` per
 * request, and nothing at all (not even reading Host) when no route has hostnames.
 */

export interface WildcardBucket<C> {
  /** `.example.com` for `*.example.com`: the host must end with it and have a label before it. */
  readonly suffix: string;
  readonly list: readonly C[];
}

export interface HostIndex<C> {
  /** False when no route has hostnames: only `any` is used and the host is never read. */
  readonly byHost: boolean;
  readonly exact: ReadonlyMap<string, readonly C[]>;
  /** Longest suffix first. */
  readonly wildcards: readonly WildcardBucket<C>[];
  /** Candidates of routes without hostnames (they match any host, or none). */
  readonly any: readonly C[];
}

/**
 * Buckets candidates by their route's hostnames. `sorted` must already be in precedence order;
 * each bucket keeps that order. `output` turns a candidate into what the buckets hold (called
 * once per candidate, even when its route has several hostnames). Hostnames are validated
 * upstream; they are lower-cased here all the same.
 */
export function buildHostIndex<C, D>(sorted: readonly C[], hostnamesOf: (c: C) => readonly string[] | undefined, output: (c: C) => D): HostIndex<D> {
  const exact = new Map<string, D[]>();
  const wild = new Map<string, D[]>();
  const any: D[] = [];
  for (const c of sorted) {
    const d = output(c);
    const names = hostnamesOf(c);
    if (names === undefined || names.length === 0) {
      any.push(d);
      continue;
    }
    // A route listing the same name twice must not put its candidate in a bucket twice.
    for (const raw of new Set(names.map((n) => n.toLowerCase()))) {
      const wildcard = raw.startsWith('*.');
      const key = wildcard ? raw.slice(1) : raw;
      const map = wildcard ? wild : exact;
      let list = map.get(key);
      if (list === undefined) map.set(key, (list = []));
      list.push(d);
    }
  }
  const wildcards = [...wild].map(([suffix, list]) => ({ suffix, list })).sort((a, b) => b.suffix.length - a.suffix.length);
  return { byHost: exact.size > 0 || wildcards.length > 0, exact, wildcards, any };
}

/**
 * The request's host as routes compare it: the port dropped (the Gateway API says to ignore
 * it), one trailing dot dropped (`example.com.` is the same name), lower case. Allocates only
 * when something has to go. A bracketed IPv6 literal keeps its brackets (it never matches a
 * route hostname: IP addresses are not hostnames).
 */
export function normalizeRequestHost(raw: string): string {
  let end = raw.length;
  if (raw.charCodeAt(0) === 0x5b /* [ */) {
    const close = raw.indexOf(']');
    if (close >= 0) end = close + 1;
  } else {
    const colon = raw.indexOf(':');
    if (colon >= 0) end = colon;
  }
  if (end > 0 && raw.charCodeAt(end - 1) === 0x2e /* . */) end--;
  const host = end === raw.length ? raw : raw.slice(0, end);
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return host.toLowerCase();
  }
  return host;
}

/** Whether `host` (normalized) is matched by the wildcard bucket: at least one label before the suffix. */
export function wildcardMatches(suffix: string, host: string): boolean {
  return host.length > suffix.length && host.endsWith(suffix) && host.charCodeAt(host.length - suffix.length - 1) !== 0x2e;
}
