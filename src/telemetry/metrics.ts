import { Counter, Gauge, Histogram, Registry } from 'prom-client';

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

/**
 * The proxy's metrics in its own Registry (several proxies may live in one test process).
 * Hot-path children are bound with `.labels()` once per listener/cluster.
 */
export class ProxyMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'direction' | 'listener' | 'cluster' | 'status_class'>;
  private readonly duration: Histogram<'direction' | 'listener' | 'cluster'>;
  private readonly tcpOpened: Counter<'direction' | 'listener'>;
  private readonly tcpActive: Gauge<'direction' | 'listener'>;
  private readonly tcpBytes: Counter<'direction' | 'listener' | 'flow'>;
  private readonly tlsHandshakes: Counter<'direction'>;
  private readonly tlsFailures: Counter<'direction'>;
  private readonly certExpiry: Gauge;
  private readonly configVersion: Gauge;
  private readonly endpoints: Gauge<'cluster'>;

  constructor() {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'trellis_requests_total',
      help: 'HTTP requests (h1 exchanges and h2 streams) by final status class',
      labelNames: ['direction', 'listener', 'cluster', 'status_class'],
      registers,
    });
    this.duration = new Histogram({
      name: 'trellis_request_duration_seconds',
      help: 'Time from request start to response end',
      labelNames: ['direction', 'listener', 'cluster'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.tcpOpened = new Counter({
      name: 'trellis_tcp_connections_opened_total',
      help: 'Opaque TCP connections relayed',
      labelNames: ['direction', 'listener'],
      registers,
    });
    this.tcpActive = new Gauge({
      name: 'trellis_tcp_connections_active',
      help: 'Opaque TCP connections open now',
      labelNames: ['direction', 'listener'],
      registers,
    });
    this.tcpBytes = new Counter({
      name: 'trellis_tcp_bytes_total',
      help: 'Bytes relayed on opaque TCP connections (rx: from downstream, tx: to downstream)',
      labelNames: ['direction', 'listener', 'flow'],
      registers,
    });
    this.tlsHandshakes = new Counter({
      name: 'trellis_tls_handshakes_total',
      help: 'mTLS handshakes completed with a verified peer',
      labelNames: ['direction'],
      registers,
    });
    this.tlsFailures = new Counter({
      name: 'trellis_tls_failures_total',
      help: 'mTLS handshakes failed or peers refused',
      labelNames: ['direction'],
      registers,
    });
    this.certExpiry = new Gauge({
      name: 'trellis_certificate_expiry_timestamp_seconds',
      help: 'notAfter of the current workload certificate (unix seconds)',
      registers,
    });
    this.configVersion = new Gauge({
      name: 'trellis_config_version',
      help: 'Version of the snapshot in use',
      registers,
    });
    this.endpoints = new Gauge({
      name: 'trellis_cluster_endpoints',
      help: 'Endpoints per cluster in the running snapshot',
      labelNames: ['cluster'],
      registers,
    });
  }

  requestMetrics(direction: Direction, listener: string, cluster: string): RequestMetrics {
    const byClass = ['none', '1xx', '2xx', '3xx', '4xx', '5xx'].map((c) =>
      this.requests.labels(direction, listener, cluster, c),
    );
    const hist = this.duration.labels(direction, listener, cluster);
    return {
      record(status, seconds) {
        const cls = status >= 100 && status < 600 ? Math.floor(status / 100) : 0;
        byClass[cls]?.inc();
        hist.observe(seconds);
      },
    };
  }

  tcpMetrics(direction: Direction, listener: string): TcpMetrics {
    const opened = this.tcpOpened.labels(direction, listener);
    const active = this.tcpActive.labels(direction, listener);
    const rx = this.tcpBytes.labels(direction, listener, 'rx');
    const tx = this.tcpBytes.labels(direction, listener, 'tx');
    return {
      opened() {
        opened.inc();
        active.inc();
      },
      closed(bytesIn, bytesOut) {
        active.dec();
        rx.inc(bytesIn);
        tx.inc(bytesOut);
      },
    };
  }

  tlsHandshake(direction: Direction): void {
    this.tlsHandshakes.labels(direction).inc();
  }

  tlsFailure(direction: Direction): void {
    this.tlsFailures.labels(direction).inc();
  }

  setCertificateExpiry(notAfter: Date): void {
    this.certExpiry.set(notAfter.getTime() / 1000);
  }

  setConfigVersion(version: number): void {
    this.configVersion.set(version);
  }

  setClusterEndpoints(counts: ReadonlyMap<string, number>): void {
    this.endpoints.reset();
    for (const [cluster, n] of counts) this.endpoints.labels(cluster).set(n);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
