import type { CompiledRule } from '../../routing/types.js';

export interface RetryPolicy {
  /** Retries after the first attempt. */
  readonly attempts: number;
  /** Wait before each retry, ms; jitter adds up to the same again. */
  readonly backoffMs: number;
  /** Retry when the response status is one of these (HTTP). */
  readonly httpCodes: ReadonlySet<number>;
  /** Retry when a trailers-only gRPC response carries one of these grpc-status codes. */
  readonly grpcCodes: ReadonlySet<number>;
}

/**
 * The rule's retry policy, compiled once per rule (rules live as long as their snapshot, so a
 * WeakMap keyed by the rule forgets them with it). Undefined: the rule does not retry.
 */
export class RetryPolicies {
  private readonly byRule = new WeakMap<CompiledRule, RetryPolicy | null>();

  of(rule: CompiledRule): RetryPolicy | undefined {
    let p = this.byRule.get(rule);
    if (p === undefined) {
      const r = rule.retry;
      p = r === undefined || r.attempts <= 0
        ? null
        : { attempts: r.attempts, backoffMs: r.backoffMs, httpCodes: new Set(r.codes), grpcCodes: new Set(r.grpcCodes ?? []) };
      this.byRule.set(rule, p);
    }
    return p ?? undefined;
  }
}
