/**
 * User regexes (path, header, query, gRPC service/method) run on the request path, and
 * JavaScript's engine backtracks. Gateway API regexes are RE2-flavoured; Node has no RE2, so we
 * refuse what can blow up: long patterns, backreferences, lookarounds and a group repeated
 * without bound (`+`, `*`, `{n,}`) that contains, at any depth, a quantifier or an alternation
 * (`(a+)+`, `(a|aa)*`, `((a*)b)+`), the classic catastrophic shapes.
 * This is a heuristic, not a proof; the length limit bounds the rest.
 */
export const MAX_REGEX_LENGTH = 256;

const BACKREFERENCE = /\\[1-9]|\\k</;
const LOOKAROUND = /\(\?<?[=!]/;

export type RegexResult = { ok: true; regex: RegExp } | { ok: false; message: string };

/** Compiles `source` as a whole-string match (anchored), or says why not. */
export function compileSafeRegex(source: string): RegexResult {
  if (source.length === 0) return { ok: false, message: 'empty regular expression' };
  if (source.length > MAX_REGEX_LENGTH) {
    return { ok: false, message: `regular expression longer than ${MAX_REGEX_LENGTH} characters` };
  }
  if (BACKREFERENCE.test(source)) return { ok: false, message: 'backreferences are not allowed' };
  if (LOOKAROUND.test(source)) return { ok: false, message: 'lookaround assertions are not allowed' };
  if (hasNestedQuantifier(source)) {
    return {
      ok: false,
      message: 'a repeated group may not contain a quantifier or "|" (e.g. "(a+)+", "(a|aa)*"): catastrophic backtracking',
    };
  }
  try {
    return { ok: true, regex: new RegExp(`^(?:${source})$`, 'u') };
  } catch (err) {
    // V8 says "Invalid regular expression: /<the wrapped pattern>/u: <why>": keep only why, the
    // wrapper would confuse whoever wrote the pattern.
    const why = (err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
    return { ok: false, message: `invalid regular expression: ${why}` };
  }
}

/**
 * Scans groups with a stack: a group is "risky" if its body (nested groups included) holds a
 * quantifier or "|"; a risky group followed by an unbounded quantifier is refused.
 */
function hasNestedQuantifier(source: string): boolean {
  const stack: boolean[] = [];
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(') {
      stack.push(false);
      if (source[i + 1] === '?') i += source[i + 2] === '<' ? 3 : 2; // (?: (?<name> ...
    } else if (c === ')') {
      const risky = stack.pop() ?? false;
      const next = source[i + 1];
      const unbounded = next === '+' || next === '*' || (next === '{' && /^\{\d+,\d*\}/.test(source.slice(i + 1)));
      if (risky && unbounded) return true;
      if (stack.length > 0 && (risky || unbounded || next === '?' || next === '{')) stack[stack.length - 1] = true;
    } else if (c === '+' || c === '*' || c === '?' || c === '{' || c === '|') {
      if (stack.length > 0) stack[stack.length - 1] = true;
    }
  }
  return false;
}
