/**
 * The last minutes of scrapes, kept compact: a proxy's series (name and labels) rarely change
 * between two scrapes, so each scrape stores only a Float64Array of values and points at a
 * series table shared with the scrapes before it. Memory is then about 8 bytes per series per
 * scrape (plus one table per distinct series set) instead of a parsed sample object each time.
 */
import type { Labels } from '../../telemetry/golden/parse.js';
import type { TargetScrape } from '../../telemetry/golden/scrape.js';
import { windowDelta } from '../../telemetry/golden/window.js';

/** The series one target exposed, in order; shared by every scrape that saw the same set. */
interface SeriesTable {
  keys: string[];
  series: { name: string; labels: Labels }[];
}

interface StoredTarget {
  target: string;
  targetLabels: Labels;
  table: SeriesTable;
  values: Float64Array;
}

/** One scrape of every target that answered, taken at `at` (epoch ms). */
export interface StoredScrape {
  readonly at: number;
  readonly targets: readonly StoredTarget[];
}

function seriesKey(name: string, labels: Labels): string {
  let key = name;
  for (const k in labels) key += `\u0000${k}=${labels[k]}`;
  return key;
}

/** Samples of one stored target, as scrapeTargets returned them. */
function samplesOf(t: StoredTarget): TargetScrape {
  return { target: t.target, targetLabels: t.targetLabels, samples: t.table.series.map((s, i) => ({ name: s.name, labels: s.labels, value: t.values[i]! })) };
}

export class ScrapeRing {
  /** Oldest first. */
  private scrapes: StoredScrape[] = [];
  /** The newest table per target, reused while its series set stays the same. */
  private tables = new Map<string, SeriesTable>();

  /** Keeps scrapes up to `keepMs` older than the newest. */
  constructor(private readonly keepMs: number) {}

  get length(): number {
    return this.scrapes.length;
  }

  /** Oldest first; index 0..length-1. */
  get(i: number): StoredScrape | undefined {
    return this.scrapes[i];
  }

  newest(): StoredScrape | undefined {
    return this.scrapes[this.scrapes.length - 1];
  }

  clear(): void {
    this.scrapes = [];
    this.tables.clear();
  }

  /** Stores a scrape (taken at `at`, not before the newest) and drops what is older than keepMs. */
  push(at: number, scrapes: readonly TargetScrape[]): void {
    const tables = new Map<string, SeriesTable>();
    const targets = scrapes.map((t): StoredTarget => {
      const keys = t.samples.map((s) => seriesKey(s.name, s.labels));
      const last = this.tables.get(t.target);
      const table = last !== undefined && sameKeys(last.keys, keys) ? last : { keys, series: t.samples.map((s) => ({ name: s.name, labels: s.labels })) };
      tables.set(t.target, table);
      return { target: t.target, targetLabels: t.targetLabels, table, values: Float64Array.from(t.samples, (s) => s.value) };
    });
    // Tables of targets that stopped answering live on only in the scrapes that use them.
    this.tables = tables;
    this.scrapes.push({ at, targets });
    let drop = 0;
    while (drop < this.scrapes.length - 1 && this.scrapes[drop]!.at < at - this.keepMs) drop++;
    if (drop > 0) this.scrapes.splice(0, drop);
  }

  /** The newest kept scrape taken at least `ms` before `from`, else the oldest kept (windows' start). */
  baseline(from: StoredScrape, ms: number): StoredScrape | undefined {
    for (let i = this.scrapes.length - 1; i >= 0; i--) {
      const s = this.scrapes[i]!;
      if (s.at <= from.at - ms) return s;
    }
    return this.scrapes[0];
  }

  /** Every target's samples at one scrape. */
  static samples(s: StoredScrape): TargetScrape[] {
    return s.targets.map(samplesOf);
  }
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * windowDelta (increase per series, a reset counts from zero, a target missing from `before`
 * left out) between two stored scrapes. Targets whose series table did not change are
 * subtracted value by value without building series keys: a series query runs this for
 * every pair of consecutive scrapes.
 */
export function storedDelta(before: StoredScrape, after: StoredScrape): TargetScrape[] {
  const old = new Map<string, StoredTarget>();
  for (const t of before.targets) old.set(t.target, t);
  const out: TargetScrape[] = [];
  for (const t of after.targets) {
    const prev = old.get(t.target);
    if (prev === undefined) continue;
    if (prev.table !== t.table) {
      out.push(...windowDelta([samplesOf(prev)], [samplesOf(t)]));
      continue;
    }
    const series = t.table.series;
    const samples = new Array<{ name: string; labels: Labels; value: number }>(series.length);
    for (let i = 0; i < series.length; i++) {
      const now = t.values[i]!;
      const was = prev.values[i]!;
      samples[i] = { name: series[i]!.name, labels: series[i]!.labels, value: now >= was ? now - was : now };
    }
    out.push({ target: t.target, targetLabels: t.targetLabels, samples });
  }
  return out;
}
