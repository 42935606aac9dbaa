import type { Counter, Gauge, Registry } from 'prom-client';
import type { AccessLogStats } from './access-log/record.js';
import type { ClusterGauge, ClusterGaugeReader, EndpointGauge } from './cluster-gauges.js';
import { PolicyMetrics } from './policy-metrics.js';
import { rawMetric } from './raw-metric.js';
import type { RawValue } from './raw-metric.js';
import { DURATION_BUCKETS, ReasonTable, RequestRecorder, RouteSeriesTable } from './request-metrics.js';
import type { Destination, Direction, Peer, RequestSeries, SeriesBudget } from './request-metrics.js';

export type { Destination, Direction, GoldenRecord, Peer } from './request-metrics.js';
export { DEFAULT_SERIES_LIMIT, RequestRecorder, SeriesBudget } from './request-metrics.js';
export { PolicyMetrics } from './policy-metrics.js';

/** Pre-bound TCP metrics for one listener. */
export interface TcpMetrics {
  opened(): void;
  closed(bytesIn: number, bytesOut: number): void;
}

/** Pre-bound metrics of one ingress TLS listener (labels: the listener, and a certificate file). */
export interface IngressTlsMetrics {
  handshake(): void;
  failure(): void;
  reload(result: 'ok' | 'refused'): void;
  /** The served certificates' notAfter, by file (replaces the previous set). */
  setExpiry(certs: readonly { certFile: string; notAfter: Date }[]): void;
}

class IngressTlsStats implements IngressTlsMetrics {
  handshakes = 0;
  failures = 0;
  reloads = { ok: 0, refused: 0 };
  expiry: { certFile: string; seconds: number }[] = [];
  constructor(readonly listener: string) {}
  handshake(): void {
    this.handshakes++;
  }
  failure(): void {
    this.failures++;
  }
  reload(result: 'ok' | 'refused'): void {
    this.reloads[result]++;
  }
  setExpiry(certs: readonly { certFile: string; notAfter: Date }[]): void {
    this.expiry = certs.map((c) => ({ certFile: c.certFile, seconds: c.notAfter.getTime() / 1000 }));
  }
}

/**
 * Connections of one PERMISSIVE inbound listener by what their first byte said: how many
 * callers still come in plaintext (the number an operator watches before switching to STRICT).
 */
export interface FirstByteCounts {
  plaintext: number;
  tls: number;
  /** No first byte within the timeout (closed by the proxy). */
  timeout: number;
  /** Closed by the peer before its first byte. */
  closed: number;
}

/** prom-client's Registry.PROMETHEUS_CONTENT_TYPE (text exposition 0.0.4). */
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
const BUCKET_LABELS = [...DURATION_BUCKETS.map(String), '+Inf'];

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
 * The proxy's metrics (several proxies may live in one test process, each with its own).
 *
 * Everything is recorded into plain numbers; prom-client (several MB of modules) is loaded
 * only on the first scrape (`text()`), and its metrics read those numbers in `collect()`.
 * So the data path never calls prom-client, and a proxy nobody scrapes never loads it.
 */
export class ProxyMetrics {
  /** Golden request recorders by direction, source and destination. */
  private readonly recorders = new Map<string, RequestRecorder>();
  /** Authorization and rate-limit decisions per policy (bound by the proxy's policy compiler). */
  readonly policies = new PolicyMetrics();
  private readonly reasons = new ReasonTable();
  /** Every exported route label set, once (shared by the recorders: no duplicate series). */
  private readonly routeSeries = new RouteSeriesTable();
  private clusterGauges: ClusterGaugeReader = () => [];
  private accessLogStats: () => AccessLogStats | null = () => null;
  private readonly tcp = new Map<string, TcpStats>();
  /** Per PERMISSIVE inbound listener (bounded: listener names come from the mesh file). */
  private readonly firstBytes = new Map<string, FirstByteCounts>();
  /** TLS egress connections by listener, destination and decision (bounded: declared ExternalServices). */
  private readonly egress = new Map<string, { labels: { listener: string; destination: string; decision: string }; count: number }>();
  private readonly tls = { handshakes: { inbound: 0, outbound: 0 }, failures: { inbound: 0, outbound: 0 } };
  private readonly ingressTlsStats = new Map<string, IngressTlsStats>();
  private certExpirySeconds = 0;
  private configVersion = 0;
  private endpoints: ReadonlyMap<string, number> = new Map();
  private registry: Promise<Registry> | null = null;

  /** Content type of `text()`. */
  get contentType(): string {
    return CONTENT_TYPE;
  }

  /**
   * Golden metrics of requests from `src` to `dst` (bind once per listener, or per calling
   * identity on inbound listeners). `budget` bounds the series of one listener.
   */
  requestRecorder(direction: Direction, src: Peer, dst: Destination, budget: SeriesBudget): RequestRecorder {
    const key = [direction, src.namespace, src.workload, src.serviceAccount, dst.namespace, dst.service].join('\u0000');
    let r = this.recorders.get(key);
    if (r === undefined) {
      r = new RequestRecorder(direction, src, dst, budget, this.reasons, this.routeSeries);
      this.recorders.set(key, r);
    }
    return r;
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

  /** Metrics of an ingress's TLS listener (client TLS with the operator's certificates, not mesh mTLS). */
  ingressTls(listener: string): IngressTlsMetrics {
    let s = this.ingressTlsStats.get(listener);
    if (s === undefined) {
      s = new IngressTlsStats(listener);
      this.ingressTlsStats.set(listener, s);
    }
    return s;
  }

  /** The first-byte counts of one PERMISSIVE inbound listener (bind once per listener). */
  firstByteCounts(listener: string): FirstByteCounts {
    let c = this.firstBytes.get(listener);
    if (c === undefined) {
      c = { plaintext: 0, tls: 0, timeout: 0, closed: 0 };
      this.firstBytes.set(listener, c);
    }
    return c;
  }

  /** Plaintext connections accepted so far, per PERMISSIVE inbound listener (the proxy's status report). */
  plaintextConnections(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [listener, c] of this.firstBytes) out[listener] = c.plaintext;
    return out;
  }

  /**
   * One TLS egress connection: `destination` is the ExternalService (`<ns>/<name>`), or
   * `passthrough` / `unregistered` for undeclared names (never the name itself: labels stay
   * bounded); `decision` allowed | denied | unauthorized | rate-limited.
   */
  egressConnection(listener: string, destination: string, decision: 'allowed' | 'denied' | 'unauthorized' | 'rate-limited'): void {
    const key = `${listener}\u0000${destination}\u0000${decision}`;
    let s = this.egress.get(key);
    if (s === undefined) this.egress.set(key, (s = { labels: { listener, destination, decision }, count: 0 }));
    s.count++;
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

  /** Where the circuit-breaker and endpoint gauges are read from at scrape time. */
  setClusterGauges(reader: ClusterGaugeReader): void {
    this.clusterGauges = reader;
  }

  /** Where the access log's counters are read from at scrape time (runtime wiring; absent: not exported). */
  setAccessLogStats(reader: () => AccessLogStats): void {
    this.accessLogStats = reader;
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
      egress: this.egress,
      tcp: this.tcp,
      tls: this.tls,
      ingressTls: this.ingressTlsStats,
      cert: (): number => this.certExpirySeconds,
      version: (): number => this.configVersion,
      endpoints: (): ReadonlyMap<string, number> => this.endpoints,
    };
    /** Sets a counter to absolute values (prom-client counters only go up through inc). */
    const setCounter = <L extends string>(c: Counter<L>, labels: Partial<Record<L, string>>, value: number): void => {
      if (value > 0) c.inc(labels, value);
    };
    this.registerGolden(registry);
    this.registerClusterGauges(registry);
    this.registerAccessLog(registry);
    this.registerPolicies(registry);
    this.registerFirstBytes(registry);
    new pc.Counter({
      name: 'trellis_egress_connections_total',
      help: 'TLS egress connections by destination (ExternalService, passthrough or unregistered) and decision',
      labelNames: ['listener', 'destination', 'decision'],
      registers,
      collect(this: Counter<'listener' | 'destination' | 'decision'>) {
        this.reset();
        for (const s of self.egress.values()) setCounter(this, s.labels, s.count);
      },
    });
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
    new pc.Counter({
      name: 'trellis_ingress_tls_handshakes_total',
      help: 'TLS handshakes completed by clients at an ingress TLS listener',
      labelNames: ['listener'],
      registers,
      collect(this: Counter<'listener'>) {
        this.reset();
        for (const s of self.ingressTls.values()) setCounter(this, { listener: s.listener }, s.handshakes);
      },
    });
    new pc.Counter({
      name: 'trellis_ingress_tls_failures_total',
      help: 'TLS handshakes that failed or timed out at an ingress TLS listener (plaintext, old versions, no common ALPN, stalled)',
      labelNames: ['listener'],
      registers,
      collect(this: Counter<'listener'>) {
        this.reset();
        for (const s of self.ingressTls.values()) setCounter(this, { listener: s.listener }, s.failures);
      },
    });
    new pc.Counter({
      name: 'trellis_ingress_tls_reloads_total',
      help: 'Reloads of an ingress TLS listener\'s certificate files: ok (new certificates served) or refused (a bad file; the previous ones kept)',
      labelNames: ['listener', 'result'],
      registers,
      collect(this: Counter<'listener' | 'result'>) {
        this.reset();
        for (const s of self.ingressTls.values()) {
          setCounter(this, { listener: s.listener, result: 'ok' }, s.reloads.ok);
          setCounter(this, { listener: s.listener, result: 'refused' }, s.reloads.refused);
        }
      },
    });
    new pc.Gauge({
      name: 'trellis_ingress_certificate_expiry_timestamp_seconds',
      help: 'notAfter of each certificate an ingress TLS listener serves (unix seconds)',
      labelNames: ['listener', 'cert_file'],
      registers,
      collect(this: Gauge<'listener' | 'cert_file'>) {
        this.reset();
        for (const s of self.ingressTls.values()) for (const e of s.expiry) this.set({ listener: s.listener, cert_file: e.certFile }, e.seconds);
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

  /** Every request series, each label set once (scrape time only). */
  private *requestSeries(): Generator<RequestSeries> {
    for (const rs of this.routeSeries.values()) yield* rs.byLabels.values();
  }

  private registerGolden(registry: Registry): void {
    registry.registerMetric(
      rawMetric('trellis_requests_total', 'HTTP requests (h1 exchanges, h2 streams) by source, destination, route, method and final status', 'counter', (out) => {
        for (const s of this.requestSeries()) out.push({ metricName: 'trellis_requests_total', labels: s.labels, value: s.count });
      }),
    );
    const hist = 'trellis_request_duration_seconds';
    registry.registerMetric(
      rawMetric(hist, 'Time from the first byte of the request to the end of the response', 'histogram', (out) => {
        for (const s of this.requestSeries()) pushHistogram(out, hist, s);
      }),
    );
    registry.registerMetric(
      rawMetric('trellis_retries_total', 'Route retries (attempts after the first) by source, destination and route', 'counter', (out) => {
        for (const rs of this.routeSeries.values()) out.push({ metricName: 'trellis_retries_total', labels: rs.labels, value: rs.retries });
      }),
    );
  }

  private registerPolicies(registry: Registry): void {
    const authz = 'trellis_authz_decisions_total';
    registry.registerMetric(
      rawMetric(authz, 'Inbound authorization decisions by policy (<namespace>/<name>, default, health-check): allowed, denied, audited', 'counter', (out) => {
        for (const c of this.policies.authzValues()) out.push({ metricName: authz, labels: c.labels, value: c.n });
      }),
    );
    const limits = 'trellis_rate_limit_decisions_total';
    registry.registerMetric(
      rawMetric(limits, 'Inbound rate-limit decisions by RateLimitPolicy and mode: admitted, limited (shadow mode: would have been limited)', 'counter', (out) => {
        for (const c of this.policies.rateLimitValues()) out.push({ metricName: limits, labels: c.labels, value: c.n });
      }),
    );
  }

  private registerFirstBytes(registry: Registry): void {
    const plain = 'trellis_inbound_plaintext_connections_total';
    registry.registerMetric(
      rawMetric(plain, 'Plaintext connections accepted by a PERMISSIVE inbound port (callers without mTLS; none for a while: STRICT is safe)', 'counter', (out) => {
        for (const [listener, c] of this.firstBytes) out.push({ metricName: plain, labels: { listener }, value: c.plaintext });
      }),
    );
    const mtls = 'trellis_inbound_permissive_tls_connections_total';
    registry.registerMetric(
      rawMetric(mtls, 'Connections that began a TLS handshake on a PERMISSIVE inbound port', 'counter', (out) => {
        for (const [listener, c] of this.firstBytes) out.push({ metricName: mtls, labels: { listener }, value: c.tls });
      }),
    );
    const failed = 'trellis_inbound_first_byte_failures_total';
    registry.registerMetric(
      rawMetric(failed, 'Connections to a PERMISSIVE inbound port closed before their first byte: timeout (the proxy closed it) or closed (the peer did)', 'counter', (out) => {
        for (const [listener, c] of this.firstBytes) {
          out.push({ metricName: failed, labels: { listener, reason: 'timeout' }, value: c.timeout });
          out.push({ metricName: failed, labels: { listener, reason: 'closed' }, value: c.closed });
        }
      }),
    );
  }

  private registerAccessLog(registry: Registry): void {
    const read = (out: RawValue[], name: string, pick: (s: AccessLogStats) => [Record<string, string>, number][]): void => {
      const s = this.accessLogStats();
      if (s === null) return;
      for (const [labels, value] of pick(s)) out.push({ metricName: name, labels, value });
    };
    const dropped = 'trellis_access_log_dropped_total';
    registry.registerMetric(
      rawMetric(dropped, 'Access-log lines lost: buffer-full (the destination was slower than the requests) or write-error', 'counter', (out) =>
        read(out, dropped, (s) => [
          [{ reason: 'buffer-full' }, s.droppedBufferFull],
          [{ reason: 'write-error' }, s.droppedWriteError],
        ]),
      ),
    );
    const written = 'trellis_access_log_lines_total';
    registry.registerMetric(rawMetric(written, 'Access-log lines written', 'counter', (out) => read(out, written, (s) => [[{}, s.written]])));
    const rotations = 'trellis_access_log_rotations_total';
    registry.registerMetric(rawMetric(rotations, 'Access-log file rotations (size-based)', 'counter', (out) => read(out, rotations, (s) => [[{}, s.rotations]])));
  }

  private registerClusterGauges(registry: Registry): void {
    type Field = 'activeRequests' | 'openConnections' | 'pendingRequests';
    const perCluster = (name: string, help: string, field: Field): void => {
      registry.registerMetric(
        rawMetric(name, help, 'gauge', (out) => {
          for (const c of uniqueClusters(this.clusterGauges())) out.push({ metricName: name, labels: { cluster: c.cluster }, value: c[field] });
        }),
      );
    };
    perCluster('trellis_cluster_requests_active', 'Requests in flight to the cluster (circuit breaker: maxConcurrentRequests)', 'activeRequests');
    perCluster('trellis_cluster_connections_open', 'Connections open or opening to the cluster (circuit breaker: maxConnections)', 'openConnections');
    perCluster('trellis_cluster_requests_pending', 'Requests queued for a connection (circuit breaker: maxPendingRequests)', 'pendingRequests');
    const perEndpoint = (name: string, help: string, value: (e: { ejected: boolean; healthy: boolean }) => boolean): void => {
      registry.registerMetric(
        rawMetric(name, help, 'gauge', (out) => {
          for (const c of uniqueClusters(this.clusterGauges())) {
            for (const e of uniqueEndpoints(c.endpoints)) out.push({ metricName: name, labels: { cluster: c.cluster, endpoint: e.endpoint }, value: value(e) ? 1 : 0 });
          }
        }),
      );
    };
    perEndpoint('trellis_endpoint_ejected', '1 while outlier detection ejects the endpoint', (e) => e.ejected);
    perEndpoint('trellis_endpoint_healthy', '0 while the endpoint fails its active health checks (1 without health checks)', (e) => e.healthy);
  }
}

/**
 * One gauge set per cluster name: a reader that lists a cluster twice (the first wins) must not
 * make a scrape show one series twice.
 */
function uniqueClusters(clusters: readonly ClusterGauge[]): ClusterGauge[] {
  const seen = new Map<string, ClusterGauge>();
  for (const c of clusters) if (!seen.has(c.cluster)) seen.set(c.cluster, c);
  return [...seen.values()];
}

/**
 * One gauge per endpoint label. Two endpoints of a cluster can share `<workload>/<replica>` (a
 * replica restarting on a new port while the old endpoint drains): the label then reads ejected
 * when either is, and healthy only when both are.
 */
function uniqueEndpoints(endpoints: readonly EndpointGauge[]): EndpointGauge[] {
  const byName = new Map<string, EndpointGauge>();
  for (const e of endpoints) {
    const seen = byName.get(e.endpoint);
    byName.set(e.endpoint, seen === undefined ? e : { endpoint: e.endpoint, ejected: seen.ejected || e.ejected, healthy: seen.healthy && e.healthy });
  }
  return [...byName.values()];
}

/** `_bucket` (cumulative, with `le`), `_sum` and `_count` of one series. */
function pushHistogram(out: RawValue[], name: string, s: RequestSeries): void {
  let acc = 0;
  for (let i = 0; i < BUCKET_LABELS.length; i++) {
    acc += s.buckets[i]!;
    out.push({ metricName: `${name}_bucket`, labels: { ...s.labels, le: BUCKET_LABELS[i]! }, value: acc });
  }
  out.push({ metricName: `${name}_sum`, labels: s.labels, value: s.sum });
  out.push({ metricName: `${name}_count`, labels: s.labels, value: s.count });
}
