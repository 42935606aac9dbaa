import type { Counter, Gauge, Metric, MetricObjectWithValues, MetricValueWithName, Registry } from 'prom-client';

export type Direction = 'inbound' | 'outbound';

/** Pre-bound request metrics for one listener (or cluster): no label lookups per request. */
export interface RequestMetrics {
  record(status: number, durationSeconds: number): void;
}

/** Pre-bound TCP metrics for one listener. */
export interface TcpMetrics {
  opened(): void;
  closed(bytesIn: number, bytesOut: number): void;
}

const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const STATUS_CLASSES = ['none', '1xx', '2xx', '3xx', '4xx', '5xx'];
/** prom-client's Registry.PROMETHEUS_CONTENT_TYPE (text exposition 0.0.4). */
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type RequestLabels = Record<'direction' | 'listener' | 'cluster', string>;

/**
 * Request counts and durations of one (direction, listener, cluster), kept in plain numbers:
 * recording a request is a few additions, no prom-client call.
 */
class RequestStats implements RequestMetrics {
  /** Requests by status class index (none, 1xx..5xx). */
  readonly byClass = [0, 0, 0, 0, 0, 0];
  /** Non-cumulative counts per bucket; the last slot is +Inf. */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1);
  sum = 0;
  count = 0;

  constructor(readonly labels: RequestLabels) {}

  record(status: number, seconds: number): void {
    const cls = status >= 100 && status < 600 ? (status / 100) | 0 : 0;
    this.byClass[cls]!++;
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    this.buckets[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

class TcpStats implements TcpMetrics {
  opens = 0;
  active = 0;
  rx = 0;
  tx = 0;
  constructor(readonly labels: Record<'direction' | 'listener', string>) {}
  opened(): void {
    this.opens++;
    this.active++;
  }
  closed(bytesIn: number, bytesOut: number): void {
    this.active--;
    this.rx += bytesIn;
    this.tx += bytesOut;
  }
}

/**
 * `trellis_request_duration_seconds` as a collector over RequestStats, formatted like a
 * prom-client Histogram (`_bucket` with `le`, `_sum`, `_count`).
 */
class DurationHistogram {
  readonly name = 'trellis_request_duration_seconds';
  readonly help = 'Time from request start to response end';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  constructor(private readonly stats: ReadonlyMap<string, RequestStats>) {}

  get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    // Shape read by Registry.getMetricsAsString / getMetricsAsJSON (prom-client 15).
    const values: MetricValueWithName<string>[] = [];
    for (const s of this.stats.values()) {
      let acc = 0;
      for (let i = 0; i < DURATION_BUCKETS.length; i++) {
        acc += s.buckets[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le: DURATION_BUCKETS[i]!, ...s.labels }, value: acc });
      }
      acc += s.buckets[DURATION_BUCKETS.length]!;
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...s.labels }, value: acc });
      values.push({ metricName: `${this.name}_sum`, labels: { ...s.labels }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...s.labels }, value: s.count });
    }
    const out = { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
    return Promise.resolve(out as unknown as MetricObjectWithValues<MetricValueWithName<string>>);
  }

  reset(): void {
    // Values live in RequestStats; nothing to reset here.
  }
}

/**
 * The proxy's metrics (several proxies may live in one test process, each with its own).
 *
 * Everything is recorded into plain numbers; prom-client (several MB of modules) is loaded
 * only on the first scrape (`text()`), and its metrics read those numbers in `collect()`.
 * So the data path never calls prom-client, and a proxy nobody scrapes never loads it.
 */
export class ProxyMetrics {
  private readonly requests = new Map<string, RequestStats>();
  private readonly tcp = new Map<string, TcpStats>();
  private readonly tls = { handshakes: { inbound: 0, outbound: 0 }, failures: { inbound: 0, outbound: 0 } };
  private certExpirySeconds = 0;
  private configVersion = 0;
  private endpoints: ReadonlyMap<string, number> = new Map();
  private registry: Promise<Registry> | null = null;

  /** Content type of `text()`. */
  get contentType(): string {
    return CONTENT_TYPE;
  }

  requestMetrics(direction: Direction, listener: string, cluster: string): RequestMetrics {
    const key = `${direction}\u0000${listener}\u0000${cluster}`;
    let s = this.requests.get(key);
    if (s === undefined) {
      s = new RequestStats({ direction, listener, cluster });
      this.requests.set(key, s);
    }
    return s;
  }

  tcpMetrics(direction: Direction, listener: string): TcpMetrics {
    const key = `${direction}\u0000${listener}`;
    let s = this.tcp.get(key);
    if (s === undefined) {
      s = new TcpStats({ direction, listener });
      this.tcp.set(key, s);
    }
    return s;
  }

  tlsHandshake(direction: Direction): void {
    this.tls.handshakes[direction]++;
  }

  tlsFailure(direction: Direction): void {
    this.tls.failures[direction]++;
  }

  setCertificateExpiry(notAfter: Date): void {
    this.certExpirySeconds = notAfter.getTime() / 1000;
  }

  setConfigVersion(version: number): void {
    this.configVersion = version;
  }

  setClusterEndpoints(counts: ReadonlyMap<string, number>): void {
    this.endpoints = new Map(counts);
  }

  async text(): Promise<string> {
    this.registry ??= this.buildRegistry();
    return (await this.registry).metrics();
  }

  /** The prom-client side, built on the first scrape; every metric reads the numbers above. */
  private async buildRegistry(): Promise<Registry> {
    const pc = await import('prom-client');
    const registry = new pc.Registry();
    const registers = [registry];
    // collect() runs with `this` = the prom-client metric, so the numbers are reached through these.
    const self = {
      requests: this.requests,
      tcp: this.tcp,
      tls: this.tls,
      cert: (): number => this.certExpirySeconds,
      version: (): number => this.configVersion,
      endpoints: (): ReadonlyMap<string, number> => this.endpoints,
    };
    /** Sets a counter to absolute values (prom-client counters only go up through inc). */
    const setCounter = <L extends string>(c: Counter<L>, labels: Partial<Record<L, string>>, value: number): void => {
      if (value > 0) c.inc(labels, value);
    };
    new pc.Counter({
      name: 'trellis_requests_total',
      help: 'HTTP requests (h1 exchanges and h2 streams) by final status class',
      labelNames: ['direction', 'listener', 'cluster', 'status_class'],
      registers,
      collect(this: Counter<'direction' | 'listener' | 'cluster' | 'status_class'>) {
        this.reset();
        for (const s of self.requests.values()) {
          for (let c = 0; c < STATUS_CLASSES.length; c++) setCounter(this, { ...s.labels, status_class: STATUS_CLASSES[c]! }, s.byClass[c]!);
        }
      },
    });
    registry.registerMetric(new DurationHistogram(this.requests) as unknown as Metric);
    new pc.Counter({
      name: 'trellis_tcp_connections_opened_total',
      help: 'Opaque TCP connections relayed',
      labelNames: ['direction', 'listener'],
      registers,
      collect(this: Counter<'direction' | 'listener'>) {
        this.reset();
        for (const s of self.tcp.values()) setCounter(this, s.labels, s.opens);
      },
    });
    new pc.Gauge({
      name: 'trellis_tcp_connections_active',
      help: 'Opaque TCP connections open now',
      labelNames: ['direction', 'listener'],
      registers,
      collect(this: Gauge<'direction' | 'listener'>) {
        this.reset();
        for (const s of self.tcp.values()) this.set(s.labels, s.active);
      },
    });
    new pc.Counter({
      name: 'trellis_tcp_bytes_total',
      help: 'Bytes relayed on opaque TCP connections (rx: from downstream, tx: to downstream)',
      labelNames: ['direction', 'listener', 'flow'],
      registers,
      collect(this: Counter<'direction' | 'listener' | 'flow'>) {
        this.reset();
        for (const s of self.tcp.values()) {
          setCounter(this, { ...s.labels, flow: 'rx' }, s.rx);
          setCounter(this, { ...s.labels, flow: 'tx' }, s.tx);
        }
      },
    });
    new pc.Counter({
      name: 'trellis_tls_handshakes_total',
      help: 'mTLS handshakes completed with a verified peer',
      labelNames: ['direction'],
      registers,
      collect(this: Counter<'direction'>) {
        this.reset();
        setCounter(this, { direction: 'inbound' }, self.tls.handshakes.inbound);
        setCounter(this, { direction: 'outbound' }, self.tls.handshakes.outbound);
      },
    });
    new pc.Counter({
      name: 'trellis_tls_failures_total',
      help: 'mTLS handshakes failed or peers refused',
      labelNames: ['direction'],
      registers,
      collect(this: Counter<'direction'>) {
        this.reset();
        setCounter(this, { direction: 'inbound' }, self.tls.failures.inbound);
        setCounter(this, { direction: 'outbound' }, self.tls.failures.outbound);
      },
    });
    new pc.Gauge({
      name: 'trellis_certificate_expiry_timestamp_seconds',
      help: 'notAfter of the current workload certificate (unix seconds)',
      registers,
      collect(this: Gauge) {
        this.set(self.cert());
      },
    });
    new pc.Gauge({
      name: 'trellis_config_version',
      help: 'Version of the snapshot in use',
      registers,
      collect(this: Gauge) {
        this.set(self.version());
      },
    });
    new pc.Gauge({
      name: 'trellis_cluster_endpoints',
      help: 'Endpoints per cluster in the running snapshot',
      labelNames: ['cluster'],
      registers,
      collect(this: Gauge<'cluster'>) {
        this.reset();
        for (const [cluster, n] of self.endpoints()) this.set({ cluster }, n);
      },
    });
    return registry;
  }
}
