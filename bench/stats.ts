/**
 * Latency recorder: every sample kept in a preallocated Float64Array (a 10 s run at
 * 1000 rps is 10,000 samples, so exact percentiles from a sorted copy are cheap and
 * avoid HdrHistogram's bucket rounding).
 */
export class Histogram {
  private values: Float64Array;
  private n = 0;
  private sorted: Float64Array | null = null;

  constructor(capacity: number) {
    this.values = new Float64Array(Math.max(16, capacity));
  }

  /** Every sample of `parts` in one histogram (e.g. one side's runs of an A/B benchmark). */
  static pooled(parts: readonly Histogram[]): Histogram {
    const all = new Histogram(parts.reduce((n, h) => n + h.n, 0));
    for (const h of parts) {
      all.values.set(h.values.subarray(0, h.n), all.n);
      all.n += h.n;
    }
    return all;
  }

  record(v: number): void {
    if (this.n === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.n++] = v;
    this.sorted = null;
  }

  get count(): number {
    return this.n;
  }

  /** Percentile (0..100) by nearest rank; NaN when empty. */
  percentile(p: number): number {
    if (this.n === 0) return NaN;
    if (this.sorted === null) this.sorted = this.values.slice(0, this.n).sort();
    const rank = Math.min(this.n - 1, Math.max(0, Math.ceil((p / 100) * this.n) - 1));
    return this.sorted[rank]!;
  }

  max(): number {
    return this.percentile(100);
  }

  mean(): number {
    if (this.n === 0) return NaN;
    let s = 0;
    for (let i = 0; i < this.n; i++) s += this.values[i]!;
    return s / this.n;
  }

  summary(): { count: number; p50: number; p90: number; p99: number; p999: number; max: number; mean: number } {
    return {
      count: this.n,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      p999: this.percentile(99.9),
      max: this.max(),
      mean: this.mean(),
    };
  }
}
