import type { TapQuery } from '../../api/tap.js';
import { TapMatcher } from '../../telemetry/tap-filter.js';
import { tapEventOf, type TapRecord, type TapSite } from './tap-event.js';
import { TapSubscriber, type TapSink } from './tap-subscriber.js';

export interface TapHubOptions {
  /** This proxy's node id (named in `attached` and `dropped` lines). */
  nodeId: string;
  /** Events per second per subscriber (token bucket, burst of as many). Default 200. */
  ratePerSecond?: number;
  /** How often dropped events are reported to each subscriber. Default 1000 ms. */
  dropReportMs?: number;
  /** Monotonic ms for the token buckets. */
  now?: () => number;
}

export interface TapSubscription {
  /** Call when the sink drained after write() returned false. */
  resume(): void;
  /** The reader left: stop, without ending the sink. */
  close(): void;
}

/**
 * The listeners publish every finished request here. While nobody taps, `active` is false and
 * the listeners' only cost is reading it; while someone taps, each request is matched against
 * every subscriber's filter on its raw fields and turned into one JSON line only if a matching
 * subscriber is under its cap (over the cap a request costs a counter).
 */
export class TapHub {
  /** Read on every request: keep it a plain field. */
  active = false;
  readonly nodeId: string;
  /** Replaced, never mutated, so publish() iterates a stable list while subscribers leave. */
  private subscribers: readonly TapSubscriber[] = [];
  private readonly ratePerSecond: number;
  private readonly dropReportMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;

  constructor(options: TapHubOptions) {
    this.nodeId = options.nodeId;
    this.ratePerSecond = options.ratePerSecond ?? 200;
    this.dropReportMs = options.dropReportMs ?? 1000;
    this.now = options.now ?? (() => performance.now());
  }

  get subscriberCount(): number {
    return this.subscribers.length;
  }

  subscribe(query: TapQuery, sink: TapSink): TapSubscription {
    const s = new TapSubscriber(new TapMatcher(query), sink, this.nodeId, this.ratePerSecond, query.max, this.now, (gone) => this.remove(gone));
    this.subscribers = [...this.subscribers, s];
    this.active = true;
    if (this.timer === null) {
      this.timer = setInterval(() => this.reportDrops(), this.dropReportMs);
      this.timer.unref();
    }
    return { resume: () => s.resume(), close: () => s.detach() };
  }

  /** Hot path, only called while `active`. */
  publish(site: TapSite, r: TapRecord, peerIdentity: string | undefined): void {
    let line: string | undefined;
    for (const s of this.subscribers) {
      if (!s.matcher.matches(site.direction, r.method, r.target, r.status, r.grpcStatus) || !s.admit()) continue;
      line ??= `${JSON.stringify({ kind: 'request', event: tapEventOf(site, r, peerIdentity) })}\n`;
      s.send(line);
    }
  }

  /** Tells each subscriber how many events it missed since the last report. */
  reportDrops(): void {
    for (const s of this.subscribers) s.reportDrops();
  }

  /** Ends every subscription (the proxy is stopping). */
  close(): void {
    for (const s of this.subscribers) s.finish();
  }

  private remove(s: TapSubscriber): void {
    this.subscribers = this.subscribers.filter((x) => x !== s);
    if (this.subscribers.length > 0) return;
    this.active = false;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
