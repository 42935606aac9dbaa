/**
 * Kubernetes' `$(VAR)` references in a workload's `command` and `env` values
 * (docs/mesh-file.md, "Variables in command and env"), with Kubernetes' rules exactly, so a
 * mesh file means what the same text means in a Pod spec:
 *
 * - `$(NAME)` becomes the variable's value; a name that is not defined stays as written,
 *   `$(NAME)` included (no error, no empty string);
 * - `$$` becomes `$`, so `$$(NAME)` is the literal text `$(NAME)`, never expanded;
 * - a `$` followed by anything else, `$(` without a closing `)`, and a `$` at the end stay as
 *   they are;
 * - what a reference expands to is not scanned again (no recursion).
 *
 * Hand-written: it is a dozen lines, and no npm package implements these rules (shell-style
 * expanders treat `$VAR`, `${VAR}` and `$(cmd)` differently).
 */

const OPERATOR = '$';
const OPENER = '(';
const CLOSER = ')';

/** `input` with every `$(NAME)` replaced by `lookup(NAME)` where that is defined. */
export function expandReferences(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let copied = 0;
  for (let i = 0; i < input.length - 1; i++) {
    if (input[i] !== OPERATOR) continue;
    const next = input[i + 1];
    out += input.slice(copied, i);
    if (next === OPERATOR) {
      out += OPERATOR; // escaped
      i += 1;
    } else if (next === OPENER) {
      const close = input.indexOf(CLOSER, i + 2);
      if (close < 0) {
        out += OPERATOR + OPENER; // incomplete reference: kept
        i += 1;
      } else {
        const name = input.slice(i + 2, close);
        out += lookup(name) ?? `${OPERATOR}${OPENER}${name}${CLOSER}`;
        i = close;
      }
    } else {
      out += OPERATOR + next; // not a reference
      i += 1;
    }
    copied = i + 1;
  }
  return out + input.slice(copied);
}

/** Looks names up in a plain record without reaching its prototype (`$(constructor)` stays as written). */
export function lookupIn(vars: Readonly<Record<string, string>>): (name: string) => string | undefined {
  return (name) => (Object.hasOwn(vars, name) ? vars[name] : undefined);
}

/**
 * A workload's `env` with references expanded as Kubernetes expands a container's `env`: each
 * value may refer to what the mesh assigns (`PORT`, upstream addresses, `TRELLIS_*`) and to the
 * variables listed *before* it in `env` (in file order); a later or unknown one stays as written.
 */
export function expandEnv(env: Readonly<Record<string, string>>, assigned: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  const assignedLookup = lookupIn(assigned);
  const earlier = lookupIn(out);
  for (const [name, value] of Object.entries(env)) {
    out[name] = expandReferences(value, (ref) => assignedLookup(ref) ?? earlier(ref));
  }
  return out;
}
