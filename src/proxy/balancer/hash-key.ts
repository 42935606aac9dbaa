import type { HashOnConfig } from '../../api/snapshot.js';
import { hash32 } from './hash.js';
import { firstHeader } from '../../util/flat-headers.js';

/**
 * Where a consistent-hash cluster reads a request's key (DestinationPolicy `hashOn`), compiled
 * once per snapshot. A cookie policy makes up a value when the request has none and asks the
 * upstream to set it on the response, so the client sticks to one endpoint from then on.
 */
export type HashPolicy =
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'cookie'; readonly name: string; readonly attributes: string };

export function compileHashPolicy(config: HashOnConfig | undefined): HashPolicy | null {
  if (config === undefined) return null;
  if ('header' in config) return { kind: 'header', name: config.header.toLowerCase() };
  const { name, ttlMs } = config.cookie;
  const maxAge = ttlMs > 0 ? `; Max-Age=${Math.max(1, Math.round(ttlMs / 1000))}` : '';
  return { kind: 'cookie', name, attributes: `; Path=/; HttpOnly${maxAge}` };
}

export interface RequestHash {
  /** 32-bit key hash, or undefined when the request carries no key (random endpoint). */
  hash: number | undefined;
  /** Response fields to add (a `set-cookie` for a cookie the proxy made up), or undefined. */
  responseHeaders: readonly string[] | undefined;
}

const NO_KEY: RequestHash = Object.freeze({ hash: undefined, responseHeaders: undefined });

/**
 * The hash key of one request. `headers`: flat [name, value, ...] with lower-case names.
 * `random` is uniform in [0, 1) (injected so tests are deterministic).
 */
export function requestHash(policy: HashPolicy, headers: readonly string[], random: () => number): RequestHash {
  if (policy.kind === 'header') {
    const v = firstHeader(headers, policy.name);
    return v === undefined ? NO_KEY : { hash: hash32(v), responseHeaders: undefined };
  }
  const cookie = findCookie(headers, policy.name);
  if (cookie !== undefined) return { hash: hash32(cookie), responseHeaders: undefined };
  const value = randomToken(random);
  return { hash: hash32(value), responseHeaders: ['set-cookie', `${policy.name}=${value}${policy.attributes}`] };
}

/** The value of cookie `name` in any `cookie` field (RFC 6265 `a=b; c=d`; h2 may split them). */
export function findCookie(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (headers[i] !== 'cookie') continue;
    const field = headers[i + 1]!;
    let at = 0;
    while (at < field.length) {
      let end = field.indexOf(';', at);
      if (end === -1) end = field.length;
      const eq = field.indexOf('=', at);
      if (eq !== -1 && eq < end && field.slice(at, eq).trim() === name) {
        let v = field.slice(eq + 1, end).trim();
        if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
        return v;
      }
      at = end + 1;
    }
  }
  return undefined;
}

/** 16 hex digits. Stickiness only, not a secret, so the injected random is enough. */
function randomToken(random: () => number): string {
  const a = Math.floor(random() * 0x1_0000_0000);
  const b = Math.floor(random() * 0x1_0000_0000);
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}
