/**
 * The value patterns of policies: exact, or one `*` at the start or the end (Istio's string
 * match). Paths add a segment prefix: `/api/*` is `/api` itself and everything under it, so a
 * DENY on `/admin/*` also covers `/admin` (Istio's `/admin/*` does not, a classic way past a
 * rule). Compiled once per snapshot; matching compares characters in place and allocates
 * nothing, also on a part of a string (`matchesRange`, for the service and method of a gRPC path).
 */
export const GlobKind = {
  /** `*` */
  Any: 0,
  Exact: 1,
  /** `abc*`: starts with `abc` */
  Prefix: 2,
  /** `*abc`: ends with `abc` */
  Suffix: 3,
  /** paths only, `/a/b/*`: `/a/b` or starts with `/a/b/` */
  SegmentPrefix: 4,
} as const;
export type GlobKind = (typeof GlobKind)[keyof typeof GlobKind];

export interface Glob {
  readonly kind: GlobKind;
  /** What is compared: the pattern without its `*` (SegmentPrefix: without the `/*`). */
  readonly value: string;
  /** As configured (for answers and `trellis why`). */
  readonly pattern: string;
}

/** Why a pattern is refused, or undefined. A `*` may only be the first or the last character. */
export function globProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return 'must not be empty';
  const star = pattern.indexOf('*', 1);
  if (star >= 0 && star !== pattern.length - 1) return 'a `*` may only be the first or the last character';
  if (pattern.length > 1 && pattern.startsWith('*') && pattern.endsWith('*')) return 'a `*` may only be the first or the last character, not both';
  return undefined;
}

/** Compiles a checked pattern (see globProblem). `paths`: `/x/*` is a segment prefix. */
export function compileGlob(pattern: string, paths = false): Glob {
  if (pattern === '*') return { kind: GlobKind.Any, value: '', pattern };
  if (pattern.startsWith('*')) return { kind: GlobKind.Suffix, value: pattern.slice(1), pattern };
  if (pattern.endsWith('*')) {
    if (paths && pattern.endsWith('/*')) return { kind: GlobKind.SegmentPrefix, value: pattern.slice(0, -2), pattern };
    return { kind: GlobKind.Prefix, value: pattern.slice(0, -1), pattern };
  }
  return { kind: GlobKind.Exact, value: pattern, pattern };
}

export function globMatches(g: Glob, s: string): boolean {
  return matchesRange(g, s, 0, s.length);
}

/** Whether `s[start, end)` matches, without taking the substring. */
export function matchesRange(g: Glob, s: string, start: number, end: number): boolean {
  const v = g.value;
  const len = end - start;
  switch (g.kind) {
    case GlobKind.Any:
      return true;
    case GlobKind.Exact:
      // A whole string (a principal, a path, a header value) is compared with ===, which V8
      // does with a length check and a block compare: startsWith walks long strings (a
      // SPIFFE ID) several times slower, and this is on every request of a policy's port.
      if (len !== v.length) return false;
      return start === 0 && end === s.length ? s === v : s.startsWith(v, start);
    case GlobKind.Prefix:
      return len >= v.length && s.startsWith(v, start);
    case GlobKind.Suffix:
      return len >= v.length && s.startsWith(v, end - v.length);
    default:
      // SegmentPrefix: `/a` itself, or `/a/...`; `/` + `*` (value '') matches every path.
      if (v.length === 0) return true;
      if (len < v.length || !s.startsWith(v, start)) return false;
      return len === v.length || s.charCodeAt(start + v.length) === 0x2f; /* / */
  }
}

/** Any of `list` matches (false for an empty list). */
export function anyMatches(list: readonly Glob[], s: string): boolean {
  for (let i = 0; i < list.length; i++) if (matchesRange(list[i] as Glob, s, 0, s.length)) return true;
  return false;
}

export function anyMatchesRange(list: readonly Glob[], s: string, start: number, end: number): boolean {
  for (let i = 0; i < list.length; i++) if (matchesRange(list[i] as Glob, s, start, end)) return true;
  return false;
}
