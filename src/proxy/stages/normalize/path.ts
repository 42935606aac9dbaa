/**
 * Request path normalization: the one path that routing sees, that the access log records and
 * that the app receives.
 *
 * The threat. A proxy that routes on the raw path while the app resolves it differently lets a
 * client reach what a route was meant to fence off. Against a PathPrefix `/admin` route,
 * `//admin`, `/%2Fadmin`, `/a/../admin`, `/./admin`, `/%2e%2e/admin` and `/%61dmin` all looked
 * like "not /admin" to a raw-string match, yet an app that resolves URLs (WHATWG `new URL()`,
 * or any framework that decodes escapes or collapses slashes) served each of them as `/admin`.
 * This is the class of CVE-2019-9901 (Envoy routed on paths with `..` and `//` unresolved) and
 * CVE-2021-31920 (Istio authorization bypassed with `%2F` / `%5C`, which apps decode to `/` or
 * `\`). The fix, as in Envoy (`normalize_path` + `merge_slashes`, escaped slashes rejected):
 * normalize once, before routing, and forward the normalized path, so whatever the app does
 * with it, it starts from exactly what routing saw.
 *
 * Steps, in order (each makes one ambiguity impossible):
 * 1. Validate every character. Refused: anything the HTTP/1 parser refuses in a request-target
 *    (control characters, SP, DEL, non-ASCII: HTTP/2 `:path` never passes that parser, so it
 *    is checked here) plus `#` and `?` (the caller cuts the query off; a fragment is never
 *    sent), a raw `\` (WHATWG turns it into `/`, other stacks do not: a slash only some
 *    readers see), and a `%` not followed by two hex digits (readers differ on `%zz`).
 * 2. Percent-escapes: `%2F` and `%5C` are refused (decoded, they are path separators for some
 *    apps and not others: CVE-2021-31920), as is every encoded control character `%00`-`%1F`
 *    and `%7F` (`%00` truncates C strings, `%0D%0A` splits headers or log lines when an app
 *    echoes a decoded path; no legitimate path needs them). Escapes of unreserved characters
 *    (ALPHA DIGIT `-` `.` `_` `~`) are decoded (RFC 3986 §6.2.2.2): `%61dmin` is `admin`, and
 *    `%2e%2e` becomes a `..` segment that step 3 removes. Every other escape stays encoded with
 *    upper-case hex digits (§6.2.2.1), so there is one spelling of each path. Nothing is
 *    decoded twice (`%252e` stays `%252e`).
 *    The characters `"` `<` `>` `` ` `` `{` `}`, which the HTTP/1 parser lets through but WHATWG
 *    encodes in a path, are encoded here the same way (`%22` ...), so `new URL()` of the result
 *    is the result itself.
 * 3. Dot-segments are removed (RFC 3986 §5.2.4): `.` goes, `..` removes the segment before it;
 *    `..` above the root stays at the root. An empty segment counts as a segment here (`..`
 *    after `//` removes the empty one), as in RFC 3986 and WHATWG.
 * 4. Repeated slashes are merged (empty segments dropped). This comes after step 3, as in
 *    Envoy (normalize, then merge_slashes): then `/a//../b` gives `/a/b`, which is what WHATWG
 *    and RFC 3986 resolution give too; merging first would give `/b`, a path no app resolving
 *    the raw one would have chosen.
 * A trailing slash is kept (`/admin/` stays, `/admin/.` gives `/admin/`): to many apps
 * `/dir/` and `/dir` are different resources, and PathPrefix matching treats them alike anyway.
 *
 * Hand-written rather than built on `new URL()` because it runs on every request (the proxy's
 * hot path): the common, already-normal path costs one scan of its characters and allocates
 * nothing (the same string instance comes back); only a path that changes is rebuilt.
 * `new URL()` would also accept what must be refused (it encodes or drops control characters,
 * turns `\` into `/`, keeps `%2F`).
 */

/** Why a path was refused; `message` is for the response body and the log. */
export interface PathRefusal {
  readonly code: PathRefusalCode;
  readonly message: string;
}

export type PathRefusalCode =
  | 'not-origin-form'
  | 'bad-character'
  | 'backslash'
  | 'bad-escape'
  | 'encoded-slash'
  | 'encoded-backslash'
  | 'encoded-control';

function refusal(code: PathRefusalCode, message: string): PathRefusal {
  return Object.freeze({ code, message });
}

/** The refusals (shared frozen objects: a refusal allocates nothing). */
export const PathRefused = Object.freeze({
  NotOriginForm: refusal('not-origin-form', 'path must start with "/"'),
  BadCharacter: refusal('bad-character', 'path holds a control character, space, non-ASCII, "#" or "?"'),
  Backslash: refusal('backslash', 'path holds a backslash'),
  BadEscape: refusal('bad-escape', 'path holds "%" not followed by two hex digits'),
  EncodedSlash: refusal('encoded-slash', 'path holds an encoded slash (%2F)'),
  EncodedBackslash: refusal('encoded-backslash', 'path holds an encoded backslash (%5C)'),
  EncodedControl: refusal('encoded-control', 'path holds an encoded control character (%00-%1F, %7F)'),
});

/** Narrows a normalizePath result. */
export function isPathRefusal(r: string | PathRefusal): r is PathRefusal {
  return typeof r !== 'string';
}

// Character kinds (ASCII only; every code unit >= 0x80 is BAD).
const PLAIN = 0; // kept as is
const SLASH = 1;
const PCT = 2;
const ENCODE = 3; // kept, but percent-encoded in the result (as WHATWG does in a path)
const BACKSLASH = 4;
const BAD = 5;

const KIND = ((): Uint8Array => {
  const t = new Uint8Array(128).fill(BAD);
  // RFC 3986 pchar minus pct-encoded, plus VCHARs the HTTP/1 parser and WHATWG both leave as
  // they are in a path (`[` `]` `^` `|`: no reader gives them a meaning in a path).
  const plain = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@[]^|";
  for (let i = 0; i < plain.length; i++) t[plain.charCodeAt(i)] = PLAIN;
  t[0x2f] = SLASH;
  t[0x25] = PCT;
  for (const c of '"<>`{}') t[c.charCodeAt(0)] = ENCODE;
  t[0x5c] = BACKSLASH;
  return t;
})();

/** Hex digit value by char code (< 128), -1 for a non-hex character. */
const HEX = ((): Int8Array => {
  const t = new Int8Array(128).fill(-1);
  for (let i = 0; i < 10; i++) t[0x30 + i] = i;
  for (let i = 0; i < 6; i++) {
    t[0x41 + i] = 10 + i;
    t[0x61 + i] = 10 + i;
  }
  return t;
})();

/** Unreserved characters (RFC 3986 §2.3): their escapes are decoded. */
const UNRESERVED = ((): Uint8Array => {
  const t = new Uint8Array(128);
  const u = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~';
  for (let i = 0; i < u.length; i++) t[u.charCodeAt(i)] = 1;
  return t;
})();

const UPPER_HEX = '0123456789ABCDEF';
const DOT = 0x2e;

function hexValue(c: number): number {
  return c < 128 ? (HEX[c] as number) : -1;
}

/** path[s, e) is "." or "..". */
function isDotSegment(path: string, s: number, e: number): boolean {
  const n = e - s;
  return (n === 1 && path.charCodeAt(s) === DOT) || (n === 2 && path.charCodeAt(s) === DOT && path.charCodeAt(s + 1) === DOT);
}

/**
 * Normalizes a request path (no query: the caller cuts at the first `?`; for an absolute-form
 * target it passes only the path part; it answers `OPTIONS *` itself). Returns the normalized
 * path, the very same string when nothing changes, or one of the `PathRefused` constants.
 * Never throws, whatever the string.
 */
export function normalizePath(path: string): string | PathRefusal {
  const r = normalizeHead(path, path.length);
  return r === null ? path : r;
}

/**
 * An origin-form target (`/path?query`): its path normalized and its query kept as it came
 * (validating the query is the codec's job). The same string when the path does not change.
 */
export function normalizeOriginTarget(target: string): string | PathRefusal {
  const q = target.indexOf('?');
  const r = normalizeHead(target, q < 0 ? target.length : q);
  if (r === null) return target;
  return typeof r === 'string' && q >= 0 ? r + target.slice(q) : r;
}

/** Normalizes path[0, n): null when it is already normal (nothing allocated), else the result. */
function normalizeHead(path: string, n: number): string | PathRefusal | null {
  if (n === 0 || path.charCodeAt(0) !== 0x2f) return PathRefused.NotOriginForm;
  // One scan: refuse what must be refused, and note whether anything would change.
  let dirty = false;
  let seg = 1; // start of the current segment
  for (let i = 1; i < n; i++) {
    const c = path.charCodeAt(i);
    const k = c < 128 ? (KIND[c] as number) : BAD;
    if (k === PLAIN) continue;
    if (k === SLASH) {
      // An empty segment (`//`) or a dot-segment before this slash.
      if (!dirty && (i === seg || (i - seg <= 2 && isDotSegment(path, seg, i)))) dirty = true;
      seg = i + 1;
      continue;
    }
    if (k === PCT) {
      if (i + 2 >= n) return PathRefused.BadEscape;
      const c1 = path.charCodeAt(i + 1);
      const c2 = path.charCodeAt(i + 2);
      const hi = hexValue(c1);
      const lo = hexValue(c2);
      if (hi < 0 || lo < 0) return PathRefused.BadEscape;
      const v = (hi << 4) | lo;
      if (v === 0x2f) return PathRefused.EncodedSlash;
      if (v === 0x5c) return PathRefused.EncodedBackslash;
      if (v < 0x20 || v === 0x7f) return PathRefused.EncodedControl;
      // Decoded (unreserved) or re-spelled (a lower-case hex digit).
      if ((v < 128 && UNRESERVED[v] === 1) || c1 >= 0x61 || c2 >= 0x61) dirty = true;
      i += 2;
      continue;
    }
    if (k === ENCODE) {
      dirty = true;
      continue;
    }
    return k === BACKSLASH ? PathRefused.Backslash : PathRefused.BadCharacter;
  }
  if (!dirty && !isDotSegment(path, seg, n)) return null;
  return rebuild(path, n);
}

/** The slow path, for a path already validated by normalizePath's scan that must change. */
function rebuild(path: string, n: number): string {
  // Step 2: one spelling per character.
  let s = '';
  let from = 0;
  for (let i = 1; i < n; i++) {
    const c = path.charCodeAt(i);
    if (c === 0x25) {
      const c1 = path.charCodeAt(i + 1);
      const c2 = path.charCodeAt(i + 2);
      const v = ((HEX[c1] as number) << 4) | (HEX[c2] as number);
      if (v < 128 && UNRESERVED[v] === 1) {
        s += path.slice(from, i) + String.fromCharCode(v);
        from = i + 3;
      } else if (c1 >= 0x61 || c2 >= 0x61) {
        s += path.slice(from, i) + '%' + UPPER_HEX[v >> 4] + UPPER_HEX[v & 15];
        from = i + 3;
      }
      i += 2;
    } else if (KIND[c] === ENCODE) {
      s += path.slice(from, i) + '%' + UPPER_HEX[c >> 4] + UPPER_HEX[c & 15];
      from = i + 1;
    }
  }
  s += path.slice(from, n);

  // Step 3: dot-segments (RFC 3986 §5.2.4), empty segments counted.
  const segs = s.split('/'); // segs[0] is the empty string before the leading "/"
  const out: string[] = [];
  const last = segs.length - 1;
  for (let j = 1; j <= last; j++) {
    const x = segs[j] as string;
    if (x === '.' || x === '..') {
      if (x === '..') out.pop();
      if (j === last) out.push(''); // `/a/..` and `/a/.` end in a slash
      continue;
    }
    out.push(x);
  }

  // Step 4: merge slashes; a trailing one stays.
  let r = '';
  for (const x of out) if (x !== '') r += '/' + x;
  if (out.length > 0 && out[out.length - 1] === '') r += '/';
  return r === '' ? '/' : r;
}
