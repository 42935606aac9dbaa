import type { AuthorizationAction, DefaultAction } from '../../api/snapshot.js';

/**
 * What policies read of a request. The pipeline's Exchange has every field (so the stages pass
 * it as it is); `trellis why` builds one from its arguments.
 */
export interface PolicyRequest {
  /** The caller's verified SPIFFE ID, or null: no verified identity. */
  readonly peer: string | null;
  readonly method: string;
  /** The normalized path (the normalize stage's `ex.path`): what routes match and the app receives. */
  readonly path: string;
  /** The raw query without `?` ('' when none). */
  readonly query: string;
  /** Host / :authority as received, or undefined. */
  readonly host: string | undefined;
  /** Request fields, flat [name, value, ...], lower-case names. */
  readonly headers: readonly string[];
  /** content-type application/grpc* */
  readonly grpc: boolean;
  /**
   * An opaque TCP connection, not a request: it has no method, path, gRPC method or headers.
   * Rules naming any of those are decided as Istio does: in a DENY (or AUDIT) rule they are
   * left out, so the rule covers the connection (denying more, never less); an ALLOW rule
   * with them never matches a connection. Absent on HTTP exchanges.
   */
  readonly tcp?: boolean;
}

/** A counter bound once (per policy and decision) and bumped per request. */
export interface PolicyCounter {
  inc(): void;
}

export const NO_COUNTER: PolicyCounter = Object.freeze({ inc: () => {} });

export type AuthzVerdict = 'allowed' | 'denied' | 'audited';

/** Where the proxy's metrics bind counters; absent (`trellis why`): nothing is counted. */
export interface PolicyCounters {
  authz(policy: string, verdict: AuthzVerdict): PolicyCounter;
  rateLimit(policy: string, mode: 'enforce' | 'shadow', decision: 'admitted' | 'limited'): PolicyCounter;
}

/** What decided: a policy's rule, the port's default, or the health-check exemption. */
export type DecisionSource = 'policy' | 'default' | 'health-check';

/**
 * One authorization decision. Made once per snapshot for every rule and default, and shared
 * by every request it decides: evaluating allocates nothing.
 */
export interface AuthzDecision {
  readonly allowed: boolean;
  readonly source: DecisionSource;
  /** The matched policy's action (source `policy`). */
  readonly action: AuthorizationAction | undefined;
  /** `<namespace>/<name>` of the matched policy. */
  readonly policy: string | undefined;
  /** Index of the matched rule in the policy's `rules`. */
  readonly rule: number | undefined;
  /** What records, tap and metrics show: `<ns>/<name>`, `default` or `health-check`. */
  readonly label: string;
  /** One sentence for people (`trellis why`, the 403 body). */
  readonly reason: string;
  readonly counter: PolicyCounter;
}

export type { DefaultAction };
