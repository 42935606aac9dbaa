import { compileInboundPolicies } from './compile.js';
import type { InboundPolicy } from './inbound-policy.js';
import type { LimiterState } from './rate-limiter.js';
import type { PolicyCounters } from './types.js';
import type { PolicyProblem } from './validate.js';

/** Where a port's stages read its policies: one field, swapped whole by each snapshot. */
export interface PolicySlot {
  readonly current: InboundPolicy | null;
}

export interface PolicyTableDeps {
  counters?: PolicyCounters;
  identityCapacity?: number;
}

export type PreparedPolicies = { ok: true; commit(): void } | { ok: false; problems: PolicyProblem[] };

/**
 * The inbound policies of one proxy, by port, rebuilt from each accepted snapshot (as the
 * cluster table is). A listener's stages hold the port's slot and read `current` per request,
 * so a new snapshot applies to the next request on every open connection. Rate-limit buckets
 * survive snapshots for the policies that stay.
 */
export class PolicyTable {
  private readonly slots = new Map<string, { current: InboundPolicy | null }>();
  private states = new Map<string, LimiterState>();
  private readonly watchers = new Set<() => void>();

  constructor(private readonly deps: PolicyTableDeps = {}) {}

  /** The slot of an inbound port (null policies until a snapshot has some for it). */
  slot(port: string): PolicySlot {
    return this.mutableSlot(port);
  }

  private mutableSlot(port: string): { current: InboundPolicy | null } {
    let s = this.slots.get(port);
    if (s === undefined) {
      s = { current: null };
      this.slots.set(port, s);
    }
    return s;
  }

  /**
   * Calls `f` after every commit (new policies in place). The TCP listeners re-check their open
   * connections with it: a connection has no next request to apply a new policy to.
   * Returns the function that stops the calls.
   */
  onCommit(f: () => void): () => void {
    this.watchers.add(f);
    return () => this.watchers.delete(f);
  }

  get(port: string): InboundPolicy | null {
    return this.slots.get(port)?.current ?? null;
  }

  /**
   * Validates and compiles a snapshot's `inbound` without changing anything; `commit` then
   * puts it in place. Call commit only once the rest of the snapshot was applied too.
   */
  prepare(inbound: unknown): PreparedPolicies {
    const states = new Map(this.states);
    const r = compileInboundPolicies(inbound, { ...this.deps, limiterStates: states });
    if (!r.ok) return r;
    return {
      ok: true,
      commit: () => {
        const used = new Set<string>();
        for (const p of r.byPort.values()) for (const l of [...p.enforce, ...p.shadow]) used.add(l.label);
        for (const k of [...states.keys()]) if (!used.has(k)) states.delete(k);
        this.states = states;
        for (const [port, s] of this.slots) s.current = r.byPort.get(port) ?? null;
        for (const [port, p] of r.byPort) this.mutableSlot(port).current = p;
        for (const f of this.watchers) f();
      },
    };
  }
}
