import { RE2JS } from 're2js';

/**
 * The one compiler for every user-supplied regular expression in routes (path, header and
 * query-parameter matches, GRPCRoute service/method). Apply-time validation
 * (src/config/resources) and the proxies' route compiler (src/proxy/routing) both call it, so a
 * pattern the control plane accepts is one every proxy compiles, with the same meaning.
 *
 * The engine is re2js, a pure-JavaScript port of RE2: RE2 syntax, as the Gateway API specifies
 * and Envoy uses, and matching in time linear in the input. JavaScript's own RegExp backtracks:
 * `/.*.*.*.*x` took seconds on a 400-character path (issue 9). bench/regex-engines.ts compares
 * it with re2-wasm and RegExp (docs/performance.md, "Route regexes").
 *
 * Limits, both principled rather than heuristic:
 * - MAX_REGEX_LENGTH characters, the Gateway API's own bound for a path value;
 * - MAX_PROGRAM_SIZE RE2 instructions. Matching is linear in the input but, when the lazy DFA
 *   gives up, proportional to program size times input length; Envoy bounds the same figure
 *   (`re2.max_program_size`). Repetition counts are capped at 1000 by RE2 itself.
 */
export const MAX_REGEX_LENGTH = 1024;
export const MAX_PROGRAM_SIZE = 1000;

/** A compiled route regex. Shared by every request: stateless from the caller's view. */
export interface RouteRegex {
  readonly source: string;
  /** True when the pattern matches the whole of `value` (Gateway API: full match). */
  test(value: string): boolean;
}

export type RegexResult = { ok: true; regex: RouteRegex } | { ok: false; message: string };

class Re2RouteRegex implements RouteRegex {
  constructor(
    readonly source: string,
    private readonly re: RE2JS,
  ) {}

  test(value: string): boolean {
    // testExact: a whole-input match without capture groups, on re2js's DFA fast path.
    return this.re.testExact(value);
  }
}

// Every snapshot recompiles its route tables, mostly with the same patterns: reusing the
// compiled program saves the compile (tens to hundreds of µs each) and keeps the lazy DFA's
// states warm. Compiled patterns hold no per-match state, so sharing them is safe. Bounded:
// the oldest entry goes first.
const CACHE_LIMIT = 256;
const cache = new Map<string, RouteRegex>();

/** Compiles `source` (RE2 syntax) for whole-value matching, or says why not. Never throws. */
export function compileRouteRegex(source: string): RegexResult {
  if (typeof source !== 'string' || source.length === 0) return { ok: false, message: 'empty regular expression' };
  const hit = cache.get(source);
  if (hit !== undefined) return { ok: true, regex: hit };
  if (source.length > MAX_REGEX_LENGTH) {
    return { ok: false, message: `regular expression longer than ${MAX_REGEX_LENGTH} characters` };
  }
  let re: RE2JS;
  try {
    re = RE2JS.compile(source);
  } catch (err) {
    // re2js reads "(?<=" as a malformed named group: say what the author meant instead.
    const look = /\(\?<?[=!]/.exec(source);
    if (look !== null) return { ok: false, message: `invalid regular expression (RE2 syntax): \`${look[0]}\`: RE2 has no lookaround assertions (lookahead or lookbehind)` };
    return { ok: false, message: `invalid regular expression (RE2 syntax): ${why(err)}${hint(source)}` };
  }
  const size = re.programSize();
  if (size > MAX_PROGRAM_SIZE) {
    return {
      ok: false,
      message: `regular expression too large: its RE2 program has ${size} instructions, at most ${MAX_PROGRAM_SIZE} are allowed (large repetition counts such as {500} cost the most)`,
    };
  }
  const regex = new Re2RouteRegex(source, re);
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(source, regex);
  return { ok: true, regex };
}

/** re2js says "error parsing regexp: invalid escape sequence: `\1`": keep what follows the prefix. */
function why(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/^error parsing regexp: /, '');
}

/** What JavaScript or PCRE users most often write that RE2 does not have, said plainly. */
function hint(source: string): string {
  if (/\\[1-9]|\\k</.test(source)) return ' (RE2 has no backreferences)';
  if (/\(\?>|[*+?}][+]/.test(source)) return ' (RE2 has no atomic groups or possessive quantifiers)';
  if (/\\[uc]/.test(source)) return ' (RE2 writes code points as \\x{41} and has no \\u or \\c escapes)';
  return '';
}
