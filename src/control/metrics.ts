import { Counter, Gauge, Registry as PromRegistry } from 'prom-client';

/** Control-plane metrics (GET /metrics); gauges read live state when scraped. */
export class ControlMetrics {
  readonly registry = new PromRegistry();
  readonly snapshotsPushed: Counter;
  readonly certificatesIssued: Counter;
  readonly recompiles: Counter;
  readonly spansReceived: Counter;
  readonly spansRejected: Counter;
  readonly traceRequestsRefused: Counter;

  constructor(read: { connectedProxies: () => number; agents: () => number; endpointsReady: () => number; version: () => number }) {
    const r = this.registry;
    this.snapshotsPushed = new Counter({ name: 'trellis_control_snapshots_pushed_total', help: 'Snapshots sent on push streams', registers: [r] });
    this.certificatesIssued = new Counter({ name: 'trellis_control_certificates_issued_total', help: 'Workload certificates signed', registers: [r] });
    this.recompiles = new Counter({ name: 'trellis_control_recompiles_total', help: 'Registry changes compiled', registers: [r] });
    this.spansReceived = new Counter({ name: 'trellis_control_spans_received_total', help: 'Spans kept from OTLP export requests (POST /v1/traces)', registers: [r] });
    this.spansRejected = new Counter({ name: 'trellis_control_spans_rejected_total', help: 'Malformed spans skipped in accepted export requests', registers: [r] });
    this.traceRequestsRefused = new Counter({ name: 'trellis_control_trace_requests_refused_total', help: 'Export requests refused whole (malformed envelope, too many spans)', registers: [r] });
    const gauge = (name: string, help: string, f: () => number): void => {
      new Gauge({
        name,
        help,
        registers: [r],
        collect() {
          this.set(f());
        },
      });
    };
    gauge('trellis_control_connected_proxies', 'Proxies with an open push stream', read.connectedProxies);
    gauge('trellis_control_agents', 'Agents with a live lease', read.agents);
    gauge('trellis_control_endpoints_ready', 'Ready endpoints in the registry', read.endpointsReady);
    gauge('trellis_control_version', 'Highest snapshot version handed out', read.version);
  }
}
