/**
 * Scrapes every proxy each interval, but only while someone watches: watch() (any read of the
 * stats API) keeps it going for `watchMs`; after that the timer stops and an unwatched mesh
 * costs nothing. Starting again clears the ring, so a window never spans a pause.
 */
import type { Dispatcher } from 'undici';
import type { PrometheusTargetGroup } from '../../api/registry.js';
import { scrapeTargets } from '../../telemetry/golden/scrape.js';
import type { ScrapeRing } from './scrape-ring.js';

export interface WatchedScraperOptions {
  targets: () => PrometheusTargetGroup[];
  ring: ScrapeRing;
  intervalMs: number;
  /** How long one watch() keeps scraping. */
  watchMs: number;
  clock: () => number;
  /** A proxy that could not be scraped (left out of that scrape). */
  onError: (target: string, err: Error) => void;
  /** The client for an https admin URL (a proxy on another host); default undici's. */
  dispatcherFor?: (url: string) => Dispatcher | undefined;
}

export class WatchedScraper {
  private timer: NodeJS.Timeout | null = null;
  private lastWatched = 0;
  private inFlight: Promise<void> | null = null;
  /** Bumped on every start and stop: a scrape that finishes after either is dropped. */
  private generation = 0;
  private closed = false;
  /** A loopback admin listener answers well within a second; a hung one must not hold up the rest for long. */
  private readonly timeoutMs: number;

  constructor(private readonly o: WatchedScraperOptions) {
    this.timeoutMs = Math.max(1000, o.intervalMs);
  }

  /** True while the timer runs. */
  get scraping(): boolean {
    return this.timer !== null;
  }

  /** Someone looked: scrape (now, if stopped) and keep scraping for watchMs. */
  watch(): void {
    this.lastWatched = this.o.clock();
    if (this.timer !== null || this.closed) return;
    this.generation++;
    this.o.ring.clear();
    this.timer = setInterval(() => this.tick(), this.o.intervalMs);
    this.timer.unref();
    this.tick();
  }

  /** Resolves once the scrape in flight, if any, has been stored (tests, shutdown). */
  async settled(): Promise<void> {
    await this.inFlight;
  }

  close(): void {
    this.closed = true;
    this.stop();
  }

  private stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.generation++;
  }

  private tick(): void {
    if (this.o.clock() - this.lastWatched >= this.o.watchMs) return this.stop();
    // A slow proxy must not pile scrapes up: the next tick after it finishes takes the next one.
    if (this.inFlight !== null) return;
    this.inFlight = this.scrapeOnce().finally(() => (this.inFlight = null));
  }

  private async scrapeOnce(): Promise<void> {
    const generation = this.generation;
    const at = this.o.clock();
    const scrapes = await scrapeTargets(this.o.targets(), this.o.onError, this.timeoutMs, this.o.dispatcherFor);
    if (generation !== this.generation) return;
    const newest = this.o.ring.newest();
    // An injected clock may stand still; scrapes keep their order anyway.
    this.o.ring.push(newest === undefined ? at : Math.max(at, newest.at), scrapes);
  }
}
