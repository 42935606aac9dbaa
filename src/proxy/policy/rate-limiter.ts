import type { RouteTable } from '../routing/table.js';
import type { Rate } from './gcra.js';
import { IdentityBuckets } from './identity-buckets.js';
import type { PolicyCounter, PolicyRequest } from './types.js';

/**
 * The buckets of one RateLimitPolicy on this proxy: shared by every port the policy applies
 * to, and kept across snapshots while the policy stays (a config push must not hand every
 * caller a fresh burst).
 */
export class LimiterState {
  totalTat = 0;
  readonly identities: IdentityBuckets;
  constructor(identityCapacity?: number) {
    this.identities = new IdentityBuckets(identityCapacity);
  }
}

/** The key of callers without a verified identity: they share one bucket. */
export const ANONYMOUS_KEY = '';

/**
 * One RateLimitPolicy compiled for one port. Two phases, so that a request is admitted only
 * when every enforced limit admits it and a refused request consumes nothing anywhere:
 * `check` says how long the request would have to wait (0: admitted) and remembers its
 * buckets; `commit` takes the request from them. Nothing is allocated on either path.
 */
export class RateLimiter {
  /** What `check` found, for `commit` and the 429's fields. */
  private identitySlot = -1;
  private identityRate: Rate | null = null;
  private totalWait = 0;
  private identityWait = 0;
  /** Set by InboundPolicy.admit: the request being admitted was checked here. */
  pending = false;

  constructor(
    /** `<namespace>/<name>` */
    readonly label: string,
    readonly mode: 'enforce' | 'shadow',
    readonly route: RouteTable | null,
    readonly total: Rate | null,
    readonly perIdentity: Rate | null,
    /** Exact SPIFFE ID -> its own per-identity rate (null: none). */
    readonly overrides: ReadonlyMap<string, Rate> | null,
    readonly state: LimiterState,
    readonly admitted: PolicyCounter,
    readonly limited: PolicyCounter,
  ) {}

  /** Whether the policy covers the request (its target route, if it has one, matches). */
  applies(req: PolicyRequest): boolean {
    return this.route === null || this.route.routeNormalized(req.method, req.path, req.query, req.host, req.headers) !== null;
  }

  /** ms the request would wait before this policy admitted it (0: admitted now). */
  check(req: PolicyRequest, now: number): number {
    this.totalWait = this.total === null ? 0 : this.total.wait(this.state.totalTat, now);
    this.identityWait = 0;
    this.identitySlot = -1;
    const key = req.peer ?? ANONYMOUS_KEY;
    const rate = this.overrides !== null && req.peer !== null ? (this.overrides.get(req.peer) ?? this.perIdentity) : this.perIdentity;
    this.identityRate = rate;
    if (rate !== null) {
      const ids = this.state.identities;
      this.identitySlot = ids.slot(key);
      this.identityWait = rate.wait(ids.tat(this.identitySlot), now);
    }
    return this.totalWait > this.identityWait ? this.totalWait : this.identityWait;
  }

  /** Takes the request checked last from its buckets. */
  commit(now: number): void {
    if (this.total !== null) this.state.totalTat = this.total.next(this.state.totalTat, now);
    if (this.identityRate !== null && this.identitySlot >= 0) {
      const ids = this.state.identities;
      ids.setTat(this.identitySlot, this.identityRate.next(ids.tat(this.identitySlot), now));
    }
  }

  /**
   * The draft-ietf-httpapi-ratelimit-headers fields (draft 11) for the limits the request
   * checked last was over: `RateLimit-Policy: "<ns>/<name>/total";q=<burst>;w=<refill s>` and
   * `RateLimit: "<ns>/<name>/total";r=0;t=<s until admitted>`, one item per exceeded limit
   * (`/total`, `/identity`). Made only for a 429.
   */
  exceeded(now: number): { policy: string[]; limit: string[] } {
    const policy: string[] = [];
    const limit: string[] = [];
    const add = (which: string, rate: Rate, tat: number, wait: number): void => {
      const name = `"${this.label}/${which}"`;
      policy.push(`${name};q=${rate.burst};w=${rate.windowSeconds}`);
      limit.push(`${name};r=${rate.remaining(tat, now)};t=${Math.ceil(wait / 1000)}`);
    };
    if (this.total !== null && this.totalWait > 0) add('total', this.total, this.state.totalTat, this.totalWait);
    if (this.identityRate !== null && this.identityWait > 0) add('identity', this.identityRate, this.state.identities.tat(this.identitySlot), this.identityWait);
    return { policy, limit };
  }
}
