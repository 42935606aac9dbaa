import type { RetryBudgetConfig } from '../../api/snapshot.js';
import type { RetryBudget } from '../traffic/plan.js';

export const BUDGET_WINDOW_MS = 10_000;
/**
 * Width of one slot of the ring: how much earlier than 10 s a request may stop counting, and
 * how much later a retry may. 20 ms keeps every window of the scenario within 3% of
 * its allowance (100 ms slots: 8%, as bursts of retries drift by up to a slot per window); the
 * ring costs 8 KB per cluster.
 */
export const BUDGET_SLOT_MS = 20;
const SLOTS = BUDGET_WINDOW_MS / BUDGET_SLOT_MS;
/** One slot more than the window holds: the oldest one straddles the window's start. */
const RING = SLOTS + 1;

/**
 * Linkerd / Finagle retry budget, held over every 10 s window: a retry at time t is allowed
 * only if, counting it,
 *   retries in (t - 10 s, t] <= percent/100 x requests in (t - 10 s, t] + minRetriesPerSecond x 10.
 *
 * Requests deposit, retries withdraw, both in a ring of 20 ms slots (fixed typed arrays:
 * recording a request is a clock read, an index and two increments; no allocation). What makes
 * the promise hold at the window's edges is that the two sides expire differently:
 * - a deposit counts only while its whole slot is inside the window (a request may stop
 *   counting up to one slot early), and
 * - a withdrawal counts until every retry of its slot is outside the window (the slot keeps the
 *   time of its last retry), never early.
 * So the budget never over-grants. The ten 1 s buckets this replaces cleared a bucket as soon as
 * its second began to leave the window: retries up to 1 s younger than 10 s were forgotten and
 * the floor was granted again, which let 349 retries through where 298 were allowed (issue 9).
 * Finagle's and tower's slotted token buckets expire deposits and withdrawals alike and have the
 * same slot-sized leak. The cost of holding the line: up to one slot of deposits is not
 * counted (0.2% of the share) and retries count up to one slot longer than 10 s.
 *
 * Retries in the window are two running sums (the slots wholly inside, plus the oldest slot if
 * its last retry is still inside), so tryRetry is O(1) too; moving the window clears one slot
 * per 20 ms that passed. One instance per cluster, kept across snapshots (reconfigure keeps
 * the counts).
 */
export class ClusterRetryBudget implements RetryBudget {
  private readonly requests = new Uint32Array(RING);
  private readonly retries = new Uint32Array(RING);
  /** Time of the last retry of each slot (-Infinity: none). */
  private readonly lastRetryAt = new Float64Array(RING).fill(-Infinity);
  /** Index (floor(now / BUDGET_SLOT_MS)) of the newest slot. */
  private slot = -Infinity;
  /** Its ring entry. */
  private head = 0;
  /** Requests in the SLOTS newest slots (the ones wholly inside the window). */
  private recentRequests = 0;
  /** Retries in the SLOTS newest slots. */
  private recentRetries = 0;
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
    const i = this.advance(this.now());
    this.requests[i]! += 1;
    this.recentRequests += 1;
  }

  tryRetry(): boolean {
    const now = this.now();
    const i = this.advance(now);
    if (this.retriesInWindow(now) + 1 > this.ratio * this.recentRequests + this.floor) return false;
    this.retries[i]! += 1;
    this.recentRetries += 1;
    this.lastRetryAt[i] = now;
    return true;
  }

  /** Retries the budget would allow right now (for observability and tests). */
  available(): number {
    const now = this.now();
    this.advance(now);
    return Math.max(0, Math.floor(this.ratio * this.recentRequests + this.floor - this.retriesInWindow(now)));
  }

  /** Retries in (now - window, now], or more: the oldest slot counts whole while any of its retries is inside. */
  private retriesInWindow(now: number): number {
    const oldest = ringIndex(this.slot - SLOTS);
    const straddling = this.lastRetryAt[oldest]! > now - BUDGET_WINDOW_MS ? this.retries[oldest]! : 0;
    return this.recentRetries + straddling;
  }

  /** Moves the window to `now`: slots it passed leave the running sums and are cleared for reuse. */
  private advance(now: number): number {
    const slot = Math.floor(now / BUDGET_SLOT_MS);
    if (slot <= this.slot) return this.head; // same slot (or a clock step back: count it in the newest)
    if (slot - this.slot >= RING) {
      this.requests.fill(0);
      this.retries.fill(0);
      this.lastRetryAt.fill(-Infinity);
      this.recentRequests = 0;
      this.recentRetries = 0;
    } else {
      for (let k = this.slot + 1; k <= slot; k++) {
        // Slot k - SLOTS becomes the oldest, straddling the window's start: out of the sums.
        const leaving = ringIndex(k - SLOTS);
        this.recentRequests -= this.requests[leaving]!;
        this.recentRetries -= this.retries[leaving]!;
        // Slot k reuses the ring entry of slot k - RING, wholly outside the window by now.
        const reused = ringIndex(k);
        this.requests[reused] = 0;
        this.retries[reused] = 0;
        this.lastRetryAt[reused] = -Infinity;
      }
    }
    this.slot = slot;
    this.head = ringIndex(slot);
    return this.head;
  }
}

function ringIndex(slot: number): number {
  return ((slot % RING) + RING) % RING;
}
