import type { Logger } from 'pino';
import type { ProxyBootstrap } from '../api/bootstrap.js';
import { ALPN_TCP } from '../api/common.js';
import type { ProxyStatusReport } from '../api/push.js';
import type { ProxySnapshot } from '../api/snapshot.js';
import { parseSpiffeId } from '../identity/spiffe.js';
import type { WorkloadCredentials } from '../identity/workload-credentials.js';
import { createAccessLog } from '../telemetry/access-log.js';
import type { AccessLog } from '../telemetry/access-log.js';
import { clusterGaugeReader } from '../telemetry/cluster-gauges.js';
import { ProxyMetrics } from '../telemetry/metrics.js';
import type { BalancerDeps } from './balancer/types.js';
import { systemClock } from './clock/clock.js';
import type { Clock } from './clock/clock.js';
import { ClusterTable, SnapshotError } from './cluster/cluster-table.js';
import type { EndpointConnectorFactory } from './cluster/endpoint.js';
import { validateSnapshot } from './control-client/validate.js';
import { DEFAULT_HTTP1_LIMITS } from './http1/types.js';
import type { Http1Limits } from './http1/types.js';
import type { Listener, ListenerContext } from './listeners/context.js';
import { InboundListener } from './listeners/inbound.js';
import { EgressTlsListener } from './listeners/egress-tls.js';
import { OutboundListener } from './listeners/outbound.js';
import { EgressTable } from './egress/egress-table.js';
import { MeshTls } from './mtls/mesh-tls.js';
import { PolicyTable } from './policy/policy-table.js';
import { mtlsConnector } from './pool/connect.js';
import type { Http1PoolOptions } from './pool/http1-pool.js';
import { TapHub } from './tap/tap-hub.js';
import { controlPlaneTlsOptions } from '../identity/control-plane-tls.js';
import { checkTracingConfig, Tracer } from './tracing/tracer.js';
import type { TracerDeps } from './tracing/tracer.js';

export interface RuntimeDeps {
  credentials: WorkloadCredentials;
  logger: Logger;
  metrics?: ProxyMetrics;
  accessLog?: AccessLog;
  limits?: Http1Limits;
  pool?: Http1PoolOptions;
  balancer?: BalancerDeps;
  /** Time on the request path; the system clock by default (tests inject a ManualClock). */
  clock?: Clock;
  /** Uniform in [0, 1); Math.random by default. */
  random?: () => number;
  adminUrl?: () => string;
  /** Span ids and exporter tuning (tests); the exporter's failures are logged at warn either way. */
  tracing?: Omit<TracerDeps, 'onError'>;
  /** Live tap hub; main.ts makes it before the admin server so /tap works from the start. */
  tap?: TapHub;
}

/**
 * The data plane of one proxy, without the control-plane client: identity for the data
 * path, the cluster table, listeners. Tests build it in-process and feed snapshots to
 * applySnapshot(); main.ts wires it to the push stream.
 */
export class ProxyRuntime {
  readonly tls: MeshTls;
  readonly clusters: ClusterTable;
  /** Inbound authorization and rate limits by port, rebuilt from each snapshot's `inbound`. */
  readonly policies: PolicyTable;
  /** ExternalServices by port, rebuilt from each snapshot's `egress` (the egress listeners). */
  readonly egress: EgressTable;
  readonly metrics: ProxyMetrics;
  readonly accessLog: AccessLog;
  /** Off until a snapshot carries `tracing`; reconfigured by every snapshot. */
  readonly tracer: Tracer;
  /** Live tap (src/api/tap.ts): the admin listener's /tap subscribes here. */
  readonly tap: TapHub;
  readonly listeners: Listener[] = [];
  private snapshot: ProxySnapshot | null = null;
  private draining: Promise<void> | null = null;
  private closed = false;
  private readonly setExpiry: () => void;
  private readonly ctx: ListenerContext;

  constructor(
    readonly bootstrap: ProxyBootstrap,
    private readonly deps: RuntimeDeps,
  ) {
    this.metrics = deps.metrics ?? new ProxyMetrics();
    this.accessLog = deps.accessLog ?? createAccessLog(bootstrap.accessLog);
    const { namespace, workload, service, serviceAccount, replica, identity } = bootstrap.node;
    const logger = deps.logger;
    this.tracer = new Tracer(
      { namespace, workload, service, replica, identity },
      {
        // The control plane's collector is verified as the push stream verifies it: mesh CA and its SPIFFE ID.
        controlPlaneTls: () => controlPlaneTlsOptions(deps.credentials.trustBundlePem),
        ...deps.tracing,
        onError: (message) => logger.warn({ err: message }, 'span export failed'),
      },
    );
    const td = parseSpiffeId(bootstrap.node.identity)?.trustDomain ?? '';
    this.tls = new MeshTls(deps.credentials, td, (direction, ok) =>
      ok ? this.metrics.tlsHandshake(direction) : this.metrics.tlsFailure(direction),
    );
    const connector: EndpointConnectorFactory = (ec, alpn, timeoutMs) =>
      mtlsConnector({ host: ec.host, port: ec.port, identity: ec.identity, alpn, timeoutMs, allowHalfOpen: alpn === ALPN_TCP }, this.tls);
    const clock = deps.clock ?? systemClock;
    const random = deps.random ?? Math.random;
    // One clock for the whole request path: balancers, budgets, outlier detection and queue waits read it too.
    const tableDeps: ConstructorParameters<typeof ClusterTable>[0] = { connector, clock, balancer: deps.balancer ?? { random, now: () => clock.now() } };
    if (deps.pool !== undefined) tableDeps.pool = deps.pool;
    this.clusters = new ClusterTable(tableDeps);
    this.metrics.setClusterGauges(clusterGaugeReader(this.clusters));
    this.policies = new PolicyTable({ counters: this.metrics.policies });
    this.egress = new EgressTable(this.metrics.policies);
    this.tap = deps.tap ?? new TapHub({ nodeId: bootstrap.node.id, now: () => clock.now() });
    this.ctx = {
      node: { nodeId: bootstrap.node.id, identity, namespace, workload, service, serviceAccount },
      tls: this.tls,
      clusters: this.clusters,
      policies: this.policies,
      egress: this.egress,
      metrics: this.metrics,
      accessLog: this.accessLog,
      tracer: this.tracer,
      tap: this.tap,
      logger: deps.logger,
      limits: deps.limits ?? DEFAULT_HTTP1_LIMITS,
      appConnectTimeoutMs: 2_000,
      clock,
      random,
    };
    if (deps.pool !== undefined) this.ctx.appPool = deps.pool;
    const setExpiry = (): void => {
      const c = deps.credentials.current;
      if (c !== null) this.metrics.setCertificateExpiry(c.notAfter);
    };
    this.setExpiry = setExpiry;
    deps.credentials.on('rotated', setExpiry);
    setExpiry();
  }

  get version(): number | null {
    return this.snapshot?.version ?? null;
  }

  get running(): ProxySnapshot | null {
    return this.snapshot;
  }

  get isDraining(): boolean {
    return this.draining !== null;
  }

  /** Validates and applies a snapshot whole; returns null, or the error for the NACK. */
  applySnapshot(snapshot: ProxySnapshot): string | null {
    const error = validateSnapshot(snapshot) ?? checkTracingConfig(snapshot.tracing);
    if (error !== null) return error;
    // Route tables and policies are compiled before anything changes: a bad one rejects the
    // whole snapshot (NACK) and the proxy keeps serving on the last good one.
    const policies = this.policies.prepare(snapshot.inbound);
    if (!policies.ok) return `snapshot rejected: ${policies.problems.map((e) => `${e.path}: ${e.message}`).join('; ')}`;
    const egress = this.egress.prepare(snapshot.egress);
    if (!egress.ok) return `snapshot rejected: ${egress.problems.join('; ')}`;
    try {
      this.clusters.apply(snapshot.clusters);
    } catch (err) {
      if (!(err instanceof SnapshotError)) throw err;
      return `${err.message}: ${err.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`;
    }
    // Read per request by the authz and ratelimit stages: the next request on every open connection sees it.
    policies.commit();
    egress.commit();
    this.tls.setTrustDomain(snapshot.trustDomain);
    const bundle = this.deps.credentials.trustBundlePem;
    if (bundle.length !== snapshot.trustBundlePem.length || bundle.some((p, i) => p !== snapshot.trustBundlePem[i])) {
      this.deps.credentials.updateTrustBundle(snapshot.trustBundlePem);
    }
    this.tracer.configure(snapshot.tracing);
    this.snapshot = snapshot;
    this.metrics.setConfigVersion(snapshot.version);
    this.metrics.setClusterEndpoints(this.clusters.endpointCounts());
    return null;
  }

  /** Binds every inbound and outbound listener of the bootstrap (needs credentials). */
  async startListeners(): Promise<void> {
    for (const c of this.bootstrap.inbound) this.listeners.push(new InboundListener(c, this.ctx));
    for (const c of this.bootstrap.outbound) {
      this.listeners.push(c.egress?.protocol === 'tls' ? new EgressTlsListener(c, this.ctx, this.egress) : new OutboundListener(c, this.ctx));
    }
    try {
      await Promise.all(this.listeners.map((l) => l.listen()));
    } catch (err) {
      this.close();
      throw err;
    }
    for (const l of this.listeners) this.deps.logger.info({ listener: l.name, direction: l.direction, port: l.port }, 'listening');
  }

  listener(name: string, direction: 'inbound' | 'outbound'): Listener | undefined {
    return this.listeners.find((l) => l.name === name && l.direction === direction);
  }

  status(): ProxyStatusReport {
    const c = this.deps.credentials.current;
    return {
      certNotAfter: c?.notAfter.toISOString() ?? '',
      certSerial: c?.serial ?? '',
      ...this.tls.counters,
      adminUrl: this.deps.adminUrl?.() ?? '',
      ...(this.bootstrap.inbound.some((l) => l.mtls === 'PERMISSIVE') ? { plaintextConnections: this.metrics.plaintextConnections() } : {}),
    };
  }

  configDump(): unknown {
    const { controlPlane, ...rest } = this.bootstrap;
    const c = this.deps.credentials.current;
    return {
      bootstrap: { ...rest, controlPlane: { ...controlPlane, token: undefined, trustBundlePem: undefined } },
      version: this.version,
      snapshot: this.snapshot,
      certificate: c === null ? null : { identity: this.bootstrap.node.identity, notAfter: c.notAfter.toISOString(), serial: c.serial },
      listeners: this.listeners.map((l) => {
        // Ingress TLS: which certificates are served, and the last refused reload.
        const tls = l instanceof OutboundListener ? l.tlsStatus() : null;
        return { name: l.name, direction: l.direction, port: l.port, ...(tls !== null ? { tls } : {}) };
      }),
      draining: this.isDraining,
    };
  }

  /** Stop accepting, let in-flight exchanges finish (bounded by drainTimeoutMs), send their spans, close. */
  drain(): Promise<void> {
    this.draining ??= (async () => {
      await Promise.all(this.listeners.map((l) => l.drain(this.bootstrap.drainTimeoutMs)));
      this.close();
      await this.tracer.shutdown();
    })();
    return this.draining;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.listeners) l.close();
    this.tap.close();
    this.clusters.close();
    this.tls.detach();
    this.deps.credentials.removeListener('rotated', this.setExpiry);
    void this.accessLog.close();
    // Queued spans are still sent (the exporter keeps the process alive for that one request).
    void this.tracer.shutdown();
  }

  /** Sends every queued span now (tests, and before an orderly exit). */
  flushTraces(): Promise<void> {
    return this.tracer.flush();
  }
}
