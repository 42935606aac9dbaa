import type { InboundPolicyConfig } from '../../api/snapshot.js';
import type { Authorizer } from './authorizer.js';
import type { RateLimiter } from './rate-limiter.js';
import type { AuthzDecision, PolicyRequest } from './types.js';

/** What `explain` says about one RateLimitPolicy of the port. */
export interface RateLimitExplanation {
  policy: string;
  mode: 'enforce' | 'shadow';
  /** The policy covers the request (its target route matches, or it has none). */
  applies: boolean;
}

/** Everything the port's policies would do with a request, without changing any bucket (`trellis why`). */
export interface PolicyExplanation {
  port: string;
  decision: AuthzDecision;
  /** The AUDIT rule that would log it, if any. */
  audit: AuthzDecision | null;
  /** Health checks are never rate limited; otherwise each RateLimitPolicy and whether it covers the request. */
  rateLimits: RateLimitExplanation[];
}

/**
 * The compiled policies of one inbound port for one snapshot: the authorizer (DENY, ALLOW,
 * default, AUDIT) and the rate limiters. The proxy's stages and `trellis why` call the same
 * object, so they cannot disagree.
 */
export class InboundPolicy {
  readonly enforce: readonly RateLimiter[];
  readonly shadow: readonly RateLimiter[];
  /** After `admit` refused: ms until the request would be admitted. */
  waitMs = 0;

  constructor(
    readonly config: InboundPolicyConfig,
    readonly authorizer: Authorizer,
    limiters: readonly RateLimiter[],
  ) {
    this.enforce = limiters.filter((l) => l.mode === 'enforce');
    this.shadow = limiters.filter((l) => l.mode === 'shadow');
  }

  get port(): string {
    return this.config.port;
  }

  get hasRateLimits(): boolean {
    return this.enforce.length + this.shadow.length > 0;
  }

  /**
   * Enforced limits: null when every one that covers the request admits it (and then the
   * request is taken from each), else the one that makes it wait longest (nothing is taken
   * anywhere; `waitMs` says how long). Counts admitted and limited per policy.
   */
  admit(req: PolicyRequest, now: number): RateLimiter | null {
    const list = this.enforce;
    let worst: RateLimiter | null = null;
    let wait = 0;
    for (let i = 0; i < list.length; i++) {
      const l = list[i] as RateLimiter;
      // Every limiter of the list is marked for this request, so no mark is left from another.
      l.pending = l.applies(req);
      if (!l.pending) continue;
      const w = l.check(req, now);
      if (w > wait) {
        wait = w;
        worst = l;
      }
    }
    if (worst !== null) {
      this.waitMs = wait;
      worst.limited.inc();
      return worst;
    }
    for (let i = 0; i < list.length; i++) {
      const l = list[i] as RateLimiter;
      if (!l.pending) continue;
      l.commit(now);
      l.admitted.inc();
    }
    return null;
  }

  /**
   * Shadow limits, for an admitted request: each one that covers it takes it if it can, as in
   * enforce mode; the first that would have refused it is returned (the request goes on).
   */
  shadowCheck(req: PolicyRequest, now: number): RateLimiter | null {
    const list = this.shadow;
    let over: RateLimiter | null = null;
    for (let i = 0; i < list.length; i++) {
      const l = list[i] as RateLimiter;
      if (!l.applies(req)) continue;
      if (l.check(req, now) > 0) {
        l.limited.inc();
        over ??= l;
      } else {
        l.commit(now);
        l.admitted.inc();
      }
    }
    return over;
  }

  explain(req: PolicyRequest): PolicyExplanation {
    const a = this.authorizer;
    const health = a.isHealthCheck(req);
    const limits = [...this.enforce, ...this.shadow];
    return {
      port: this.port,
      decision: a.authorize(req),
      audit: a.audit(req),
      rateLimits: limits.map((l) => ({ policy: l.label, mode: l.mode, applies: !health && l.applies(req) })),
    };
  }
}
