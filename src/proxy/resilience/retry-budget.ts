import type { RetryBudgetConfig } from '../../api/snapshot.js';
import type { RetryBudget } from '../traffic/plan.js';

export const BUDGET_WINDOW_MS = 10_000;
const BUCKETS = 10;
const BUCKET_MS = BUDGET_WINDOW_MS / BUCKETS;

/**
 * Linkerd / Finagle retry budget over a sliding 10 s window: a retry is allowed while
 *   retries in the window + 1 <= percent/100 x requests in the window + minRetriesPerSecond x 10.
 * The window is ten 1 s buckets in two fixed arrays: recording a request is a clock read, an
 * index and an increment (no allocation); only tryRetry sums the buckets, and retries are rare.
 * One instance per cluster, kept across snapshots (reconfigure keeps the counts).
 */
export class ClusterRetryBudget implements RetryBudget {
  private readonly requests = new Float64Array(BUCKETS);
  private readonly retries = new Float64Array(BUCKETS);
  /** Second (now / 1000, floored) of the newest bucket. */
  private current = -Infinity;
  private ratio: number;
  private floor: number;

  constructor(
    config: RetryBudgetConfig,
    private readonly now: () => number,
  ) {
    this.ratio = config.percent / 100;
    this.floor = config.minRetriesPerSecond * (BUDGET_WINDOW_MS / 1000);
  }

  reconfigure(config: RetryBudgetConfig): void {
    this.ratio = config.percent / 100;
    this.floor = config.minRetriesPerSecond * (BUDGET_WINDOW_MS / 1000);
  }

  recordRequest(): void {
    this.requests[this.advance()]! += 1;
  }

  tryRetry(): boolean {
    const i = this.advance();
    let requests = 0;
    let retries = 0;
    for (let k = 0; k < BUCKETS; k++) {
      requests += this.requests[k]!;
      retries += this.retries[k]!;
    }
    if (retries + 1 > this.ratio * requests + this.floor) return false;
    this.retries[i]! += 1;
    return true;
  }

  /** Retries the budget would allow right now (for observability and tests). */
  available(): number {
    this.advance();
    let requests = 0;
    let retries = 0;
    for (let k = 0; k < BUCKETS; k++) {
      requests += this.requests[k]!;
      retries += this.retries[k]!;
    }
    return Math.max(0, Math.floor(this.ratio * requests + this.floor - retries));
  }

  /** Moves the window to now, clearing buckets that fell out of it; returns the current bucket. */
  private advance(): number {
    const second = Math.floor(this.now() / BUCKET_MS);
    const gap = second - this.current;
    if (gap >= BUCKETS) {
      this.requests.fill(0);
      this.retries.fill(0);
      this.current = second;
    } else if (gap > 0) {
      for (let k = 1; k <= gap; k++) {
        const j = (this.current + k) % BUCKETS;
        this.requests[j] = 0;
        this.retries[j] = 0;
      }
      this.current = second;
    }
    return second % BUCKETS;
  }
}
