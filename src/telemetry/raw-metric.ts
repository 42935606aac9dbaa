import type { Metric, MetricObjectWithValues, MetricValueWithName } from 'prom-client';

export type RawValue = MetricValueWithName<string>;

/**
 * A metric whose values are produced at scrape time by `read`, registered into a prom-client
 * Registry (which formats and escapes it). Used where the numbers live in our own structures
 * and a prom-client Counter would mean hashing every label set again on every scrape.
 */
class RawMetric {
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly read: (out: RawValue[]) => void,
  ) {}

  get(): Promise<MetricObjectWithValues<RawValue>> {
    // Shape read by Registry.getMetricsAsString / getMetricsAsJSON (prom-client 15).
    const values: RawValue[] = [];
    this.read(values);
    const out = { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
    return Promise.resolve(out as unknown as MetricObjectWithValues<RawValue>);
  }

  reset(): void {
    // The values live elsewhere; nothing to reset here.
  }
}

export function rawMetric(name: string, help: string, type: 'counter' | 'gauge' | 'histogram', read: (out: RawValue[]) => void): Metric {
  return new RawMetric(name, help, type, read) as unknown as Metric;
}
