import { wellFormed } from './request-metrics.js';
import type { Labels } from './request-metrics.js';

/**
 * Authorization and rate-limit decisions counted per policy (`trellis_authz_decisions_total`,
 * `trellis_rate_limit_decisions_total`). A cell is bound once per policy and decision when a
 * snapshot is compiled (the proxy's policy compiler asks here), and a request adds one to a
 * number. Cells live as long as the proxy, so counts survive snapshots; label values are the
 * policies' `<namespace>/<name>` (plus `default` and `health-check`), a set the operator
 * controls, bounded anyway: past MAX_POLICY_SERIES label sets, new ones count under `other`.
 */
export const MAX_POLICY_SERIES = 1_000;

export class CountCell {
  n = 0;
  constructor(readonly labels: Labels) {}
  inc(): void {
    this.n++;
  }
}

export type AuthzDecisionLabel = 'allowed' | 'denied' | 'audited';
export type RateLimitDecisionLabel = 'admitted' | 'limited';

export class PolicyMetrics {
  private readonly authzCells = new Map<string, CountCell>();
  private readonly limitCells = new Map<string, CountCell>();

  constructor(private readonly limit = MAX_POLICY_SERIES) {}

  /** The counter of one authorization policy's decisions of one kind. */
  authz(policy: string, decision: AuthzDecisionLabel): CountCell {
    return this.cell(this.authzCells, `${policy}\u0000${decision}`, () => ({ policy: wellFormed(policy), decision }), () => ({ policy: 'other', decision }));
  }

  /** The counter of one RateLimitPolicy's decisions of one kind, in its mode. */
  rateLimit(policy: string, mode: 'enforce' | 'shadow', decision: RateLimitDecisionLabel): CountCell {
    return this.cell(
      this.limitCells,
      `${policy}\u0000${mode}\u0000${decision}`,
      () => ({ policy: wellFormed(policy), mode, decision }),
      () => ({ policy: 'other', mode, decision }),
    );
  }

  authzValues(): IterableIterator<CountCell> {
    return this.authzCells.values();
  }

  rateLimitValues(): IterableIterator<CountCell> {
    return this.limitCells.values();
  }

  private cell(cells: Map<string, CountCell>, key: string, labels: () => Labels, overflow: () => Labels): CountCell {
    let c = cells.get(key);
    if (c !== undefined) return c;
    if (this.authzCells.size + this.limitCells.size >= this.limit) {
      const o = overflow();
      const okey = Object.values(o).join('\u0000');
      c = cells.get(okey);
      if (c === undefined) {
        c = new CountCell(o);
        cells.set(okey, c);
      }
      return c;
    }
    c = new CountCell(labels());
    cells.set(key, c);
    return c;
  }
}
