/**
 * The namespace and service account of the caller's SPIFFE ID (`spiffe://<td>/ns/<ns>/sa/<sa>`)
 * located in place: policies compare them without taking substrings. Module state, like the
 * route table's request cursor: evaluation is synchronous, one request at a time.
 * The ID itself was verified by mTLS; this only finds its parts.
 */
let located: string | null = null;
let ok = false;
export let nsStart = 0;
export let nsEnd = 0;
export let saStart = 0;
export let saEnd = 0;

const SCHEME = 'spiffe://';

/** Locates the parts of `id`; false when it has not the `/ns/<ns>/sa/<sa>` shape (or is null). */
export function locatePeer(id: string | null): boolean {
  if (id === located) return ok;
  located = id;
  ok = false;
  if (id === null || !id.startsWith(SCHEME)) return false;
  const tdEnd = id.indexOf('/', SCHEME.length);
  if (tdEnd < 0 || !id.startsWith('/ns/', tdEnd)) return false;
  const ns = tdEnd + 4;
  const nsSlash = id.indexOf('/', ns);
  if (nsSlash <= ns || !id.startsWith('/sa/', nsSlash)) return false;
  const sa = nsSlash + 4;
  if (sa >= id.length || id.indexOf('/', sa) >= 0) return false;
  nsStart = ns;
  nsEnd = nsSlash;
  saStart = sa;
  saEnd = id.length;
  ok = true;
  return true;
}
