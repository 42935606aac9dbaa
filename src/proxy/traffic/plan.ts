/**
 * Retries may add only a share of load (Linkerd's retry budget). Owned by the cluster the
 * retries go to; shared by every request to it.
 */
export interface RetryBudget {
  /** Counts one original (non-retry) request towards the budget. */
  recordRequest(): void;
  /** Takes one retry from the budget; false means the budget is spent: do not retry. */
  tryRetry(): boolean;
}
