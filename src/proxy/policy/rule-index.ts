import type { CompiledRule } from './authorizer.js';
import { GlobKind } from './glob.js';

/**
 * Past this many rule references kept over all named callers, a list is not indexed (every
 * request walks every rule, as without an index): the index must never cost more memory than
 * the policies it speeds up.
 */
export const MAX_INDEXED_REFERENCES = 100_000;

/**
 * The rules of one list (DENY, ALLOW or AUDIT) that can match a caller, found with one map
 * lookup instead of trying every rule. Why: ALLOW lists are mostly "this caller may do this",
 * one rule per caller naming its exact SPIFFE ID; walking 20 such rules per request chases
 * a handful of pointers each, which costs microseconds on a busy proxy where they are not in
 * cache (bench/policy-eval.ts, pipeline-cpu --policy-ab). A rule whose every `from` source
 * names exact principals can only match those callers; every other rule may match anyone.
 * So for each named caller the index keeps, in the list's order, the rules that name it and
 * the rules that name nobody; any other caller (or one with no identity) gets the latter
 * only. The first match, and so every decision, is the one the whole list would give.
 */
export class RuleIndex {
  /** Rules that can match a caller named by some rule, in list order. */
  private readonly byPeer: ReadonlyMap<string, readonly CompiledRule[]>;
  /** Rules that can match any caller: those that do not name exact principals in every source. */
  private readonly anyone: readonly CompiledRule[];

  constructor(readonly all: readonly CompiledRule[]) {
    const named = all.map(exactPrincipals);
    const anyone = all.filter((_, i) => named[i] === null);
    const peers = new Set<string>();
    for (const n of named) if (n !== null) for (const p of n) peers.add(p);
    const byPeer = new Map<string, CompiledRule[]>();
    if (peers.size * (anyone.length + 1) <= MAX_INDEXED_REFERENCES && anyone.length < all.length) {
      for (const peer of peers) byPeer.set(peer, all.filter((_, i) => named[i] === null || (named[i] as Set<string>).has(peer)));
      this.anyone = anyone;
    } else {
      this.anyone = all;
    }
    this.byPeer = byPeer;
  }

  /** The rules that can match a request from `peer`, in list order. */
  candidates(peer: string | null): readonly CompiledRule[] {
    if (peer === null) return this.anyone;
    return this.byPeer.get(peer) ?? this.anyone;
  }
}

/** The exact principals a rule is limited to, or null when it can match other callers too. */
function exactPrincipals(r: CompiledRule): Set<string> | null {
  if (r.from === null || r.from.length === 0) return null;
  const out = new Set<string>();
  for (const s of r.from) {
    if (s.principals === null) return null;
    for (const g of s.principals) {
      if (g.kind !== GlobKind.Exact) return null;
      out.add(g.value);
    }
  }
  return out;
}
