import { StatsService } from './stats/stats-service.js';
import { prometheusTargets } from './api/prometheus-sd.js';
import { ProxyAdminDispatcher, type AdminDispatcherFor } from './proxy-admin/admin-dispatcher.js';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { HostPort } from '../api/common.js';
import type { AgentReport, CheckReport, EndpointView, ProxyView, ServiceView, WorkloadView } from '../api/registry.js';
import type { ApplyResult, ResourceKind, ResourceView } from '../api/resources.js';
import type { ProxySnapshot, TracingConfig } from '../api/snapshot.js';
import type { TraceSummaryView, TraceView } from '../api/traces.js';
import type { TracingSettings } from '../config/types.js';
import { TrellisError } from '../errors.js';
import { CertificateAuthority } from '../identity/ca.js';
import { isInTrustDomain, spiffeId } from '../identity/spiffe.js';
import type { TlsCredentials } from '../identity/tls.js';
import { packageRoot } from '../util/paths.js';
import { ApiServer } from './api/api-server.js';
import type { ApiBackend } from './api/api-server.js';
import { runChecks } from './check/check.js';
import { SnapshotCache } from './compiler/snapshot-cache.js';
import { DEFAULT_TRACING, snapshotTracing } from './compiler/tracing.js';
import { TraceCollector } from './traces/trace-collector.js';
import { createLogger } from './logger.js';
import { ControlMetrics } from './metrics.js';
import { ProxyTracker } from './push/proxy-tracker.js';
import { PushServer } from './push/push-server.js';
import { BootstrapTokens } from './push/tokens.js';
import { Registry } from './registry/registry.js';
import { ResourceStore } from './resources/resource-store.js';
import { ensurePrivateDir, loadOrCreateToken, removeInfo, writeInfo } from './state-files.js';
import { FileStore } from './store/file-store.js';
import type { Store } from './store/store.js';

export interface ControlPlaneOptions {
  stateDir: string;
  api: HostPort;
  push: HostPort;
  trustDomain: string;
  certTtlMs: number;
  logLevel: string;
  clock?: () => number;
  /** Push stream ping interval (tests shorten it). Default PUSH_PING_INTERVAL_MS. */
  pingIntervalMs?: number;
  /**
   * Mesh file `spec.tracing` put in every snapshot; null = tracing off. Absent = DEFAULT_TRACING
   * (1% of new traces, sent to this control plane's own `/v1/traces`).
   */
  tracing?: TracingSettings | null;
  /** Spans kept for the recent-trace views. Default DEFAULT_MAX_TRACE_SPANS (10,000). */
  maxTraceSpans?: number;
  /** Dashboard stats: proxy scrape interval while watched (tests shorten it). Default 2 s. */
  statsIntervalMs?: number;
}

/** Lifetime of the control plane's own server/client certificate (rotated at two thirds). */
const MIN_SERVER_CERT_TTL_MS = 3600_000;

/** The control plane: store, registry, compiler, CA, push server and REST API wired together. */
export class ControlPlane implements ApiBackend {
  readonly identity: string;
  readonly tokens = new BootstrapTokens();
  readonly tracker = new ProxyTracker();
  readonly registry: Registry;
  readonly snapshots: SnapshotCache;
  readonly metrics: ControlMetrics;
  /** Mesh resources; every `changed` event recompiles and pushes (unchanged snapshots keep their version). */
  readonly resources: ResourceStore;
  /** Spans proxies and apps export to this control plane (POST /v1/traces), kept for the trace views. */
  readonly traces: TraceCollector;
  /** Golden metrics for the dashboard, scraped from the proxies while someone watches. */
  readonly stats: StatsService;
  /** Calls to proxies' remote admin listeners (other hosts) present this control plane's certificate. */
  private readonly adminDispatcher: ProxyAdminDispatcher;
  readonly adminDispatcherFor: AdminDispatcherFor;
  version = '0.0.0';
  /** The snapshots' tracing block; known once the API address is bound. */
  private tracingConfig: TracingConfig | undefined;
  private push: PushServer | null = null;
  private api: ApiServer | null = null;
  private creds: TlsCredentials | null = null;
  private leaseTimer: NodeJS.Timeout | null = null;
  private rotateTimer: NodeJS.Timeout | null = null;
  private closing = false;

  private constructor(
    private readonly o: ControlPlaneOptions,
    readonly ca: CertificateAuthority,
    readonly store: Store,
    readonly agentToken: string,
    readonly logger: Logger,
    readonly clock: () => number,
  ) {
    this.identity = spiffeId(o.trustDomain, 'trellis-system', 'control-plane');
    this.adminDispatcher = new ProxyAdminDispatcher(o.trustDomain);
    this.adminDispatcherFor = this.adminDispatcher.for;
    this.registry = new Registry(o.trustDomain);
    this.resources = new ResourceStore(store, () => this.registry.services(), clock);
    this.snapshots = new SnapshotCache(
      this.registry,
      store,
      () => ca.trustBundlePem(),
      () => this.resources.resources(),
      (d) => this.logger.warn(d, 'route left out of the snapshot: the proxy would refuse it'),
      () => this.tracingConfig,
    );
    this.traces = new TraceCollector(o.maxTraceSpans, undefined, (r) => {
      if (!r.ok) this.metrics.traceRequestsRefused.inc();
      else {
        this.metrics.spansReceived.inc(r.spans.length);
        this.metrics.spansRejected.inc(r.rejected);
      }
    });
    this.stats = new StatsService({
      trustDomain: o.trustDomain,
      // Every proxy, those on other hosts through their remote admin listeners (mTLS).
      targets: () => prometheusTargets(this.registry.workloads(), { remote: true }),
      dispatcherFor: this.adminDispatcher.for,
      workloads: () => this.registry.workloads(),
      services: () => this.registry.services(),
      proxies: () => this.proxies(),
      clock,
      intervalMs: o.statsIntervalMs,
      onScrapeError: (target, err) => this.logger.debug({ target, err: err.message }, 'stats: proxy not scraped'),
    });
    this.metrics = new ControlMetrics({
      connectedProxies: () => this.push?.connectedCount() ?? 0,
      agents: () => this.registry.agentIds().length,
      endpointsReady: () => this.registry.endpoints().filter((e) => e.ready).length,
      version: () => this.store.version(),
    });
  }

  get trustDomain(): string {
    return this.o.trustDomain;
  }
  get apiUrl(): string {
    return this.api?.url ?? '';
  }
  get pushUrl(): string {
    return this.push?.url ?? '';
  }

  static async start(o: ControlPlaneOptions): Promise<ControlPlane> {
    if (!Number.isFinite(o.certTtlMs) || o.certTtlMs < 1000) {
      throw new TrellisError('TRELLIS_E_USAGE', `certificate TTL must be at least 1s, got ${o.certTtlMs} ms`);
    }
    const clock = o.clock ?? Date.now;
    const logger = createLogger(o.logLevel);
    await ensurePrivateDir(o.stateDir);
    const ca = await CertificateAuthority.loadOrCreate(join(o.stateDir, 'ca'), o.trustDomain, clock);
    const token = await loadOrCreateToken(join(o.stateDir, 'agent-token'));
    const store = await FileStore.open(join(o.stateDir, 'store'));
    const cp = new ControlPlane(o, ca, store, token, logger, clock);
    try {
      await cp.boot();
    } catch (err) {
      await cp.close();
      throw err;
    }
    return cp;
  }

  private async boot(): Promise<void> {
    this.version = await readPackageVersion();
    // Every lease restarts now: the control plane being down never expires an endpoint.
    const now = this.clock();
    for (const a of this.store.agents()) this.registry.upsert(a.report, now);
    // The API listens first, answering only once start-up is done: the snapshots' default
    // trace endpoint is its bound address, so the first compile already has it (and a restart
    // with the same content keeps every version).
    let opened = (): void => {};
    const ready = new Promise<void>((r) => (opened = r));
    this.api = await ApiServer.start(this.o.api, this.agentToken, this, this.logger, ready);
    this.tracingConfig = snapshotTracing(this.o.tracing === undefined ? DEFAULT_TRACING : this.o.tracing, this.api.url);
    await this.snapshots.recompile();
    this.registry.on('changed', () => this.recompileAndPush());
    this.resources.on('changed', () => this.recompileAndPush());
    this.scheduleExpiry();

    this.creds = await this.issueOwnCredentials();
    this.adminDispatcher.update(this.creds, this.ca.trustBundlePem());
    this.push = await PushServer.start(this.o.push, this.creds, {
      trustDomain: this.o.trustDomain,
      ca: this.ca,
      certTtlMs: this.o.certTtlMs,
      tokens: this.tokens,
      store: this.store,
      registry: this.registry,
      snapshots: this.snapshots,
      tracker: this.tracker,
      clock: this.clock,
      logger: this.logger,
      pingIntervalMs: this.o.pingIntervalMs,
      onEvent: (e) => (e === 'certificate-issued' ? this.metrics.certificatesIssued.inc() : this.metrics.snapshotsPushed.inc()),
    });
    opened();
    await writeInfo(join(this.o.stateDir, 'control-plane.json'), {
      pid: process.pid,
      apiUrl: this.api.url,
      pushUrl: this.push.url,
      trustDomain: this.o.trustDomain,
    });
    this.logger.info({ apiUrl: this.api.url, pushUrl: this.push.url, trustDomain: this.o.trustDomain, tracing: this.tracingConfig ?? 'off' }, 'control plane started');
  }

  private serverCertTtl(): number {
    return Math.max(this.o.certTtlMs, MIN_SERVER_CERT_TTL_MS);
  }

  /** The control plane's certificate: push server and client for "peers verified"; rotated at 2/3 of its life. */
  private async issueOwnCredentials(): Promise<TlsCredentials> {
    const host = this.o.push.host;
    const ips = new Set(['127.0.0.1', '::1']);
    const dns = new Set(['localhost']);
    if (isIP(host) !== 0) {
      if (host !== '0.0.0.0' && host !== '::') ips.add(host);
    } else if (host !== '') dns.add(host);
    const ttl = this.serverCertTtl();
    const issued = await this.ca.issueServerCertificate(this.identity, [...dns], [...ips], ttl);
    if (this.rotateTimer !== null) clearTimeout(this.rotateTimer);
    this.rotateTimer = setTimeout(() => void this.rotateOwnCredentials(), Math.floor((ttl * 2) / 3));
    this.rotateTimer.unref();
    return { keyPem: issued.keyPem, certChainPem: issued.certChainPem };
  }

  private async rotateOwnCredentials(): Promise<void> {
    if (this.closing) return;
    try {
      this.creds = await this.issueOwnCredentials();
      this.push?.setCredentials(this.creds);
      this.adminDispatcher.update(this.creds, this.ca.trustBundlePem());
      this.logger.info('rotated the control plane certificate');
    } catch (err) {
      this.logger.error({ err }, 'rotating the control plane certificate failed; retrying in 10s');
      this.rotateTimer = setTimeout(() => void this.rotateOwnCredentials(), 10_000);
      this.rotateTimer.unref();
    }
  }

  /** After a registry or resource change: recompile every node; push only to those whose content changed. */
  private recompileAndPush(): void {
    if (this.closing) return;
    this.metrics.recompiles.inc();
    this.snapshots.recompile().then(
      (changed) => this.push?.push(changed),
      (err: unknown) => this.logger.error({ err }, 'compiling snapshots failed'),
    );
  }

  private scheduleExpiry(): void {
    if (this.leaseTimer !== null) clearTimeout(this.leaseTimer);
    this.leaseTimer = null;
    const next = this.registry.nextExpiry();
    if (next === null || this.closing) return;
    this.leaseTimer = setTimeout(() => void this.expireLeases(), Math.max(0, next - this.clock()) + 1);
    this.leaseTimer.unref();
  }

  private async expireLeases(): Promise<void> {
    const gone = this.registry.expire(this.clock());
    for (const id of gone) {
      this.logger.warn({ agentId: id }, 'agent lease expired: its endpoints are removed');
      await this.store.deleteAgent(id).catch((err: unknown) => this.logger.error({ err }, 'store: deleting an agent failed'));
    }
    this.scheduleExpiry();
  }

  // ---- ApiBackend ----

  async reportAgent(agentId: string, report: AgentReport): Promise<void> {
    const now = this.clock();
    await this.store.putAgent({ report, receivedAt: now });
    this.registry.upsert(report, now);
    this.scheduleExpiry();
    // Answer once the change is compiled (and pushed), so a reader after the PUT sees it.
    await this.snapshots.idle();
    this.logger.debug({ agentId, workloads: report.workloads.length }, 'agent report');
  }

  async removeAgent(agentId: string): Promise<void> {
    await this.store.deleteAgent(agentId);
    this.registry.remove(agentId);
    this.scheduleExpiry();
    await this.snapshots.idle();
    this.logger.info({ agentId }, 'agent removed');
  }

  issueToken(nodeId: string, identity: string): { token: string; pushUrl: string; trustBundlePem: string[]; controlPlaneIdentity: string } {
    if (!isInTrustDomain(identity, this.o.trustDomain)) {
      throw new TrellisError('TRELLIS_E_IDENTITY', `identity: ${identity} is outside trust domain "${this.o.trustDomain}"`);
    }
    const known = this.registry.node(nodeId)?.identity;
    if (known !== undefined && known !== identity) {
      throw new TrellisError('TRELLIS_E_IDENTITY', `identity: node ${nodeId} is registered as ${known}, not ${identity}`);
    }
    return {
      token: this.tokens.issue(nodeId, identity, this.clock()),
      pushUrl: this.pushUrl,
      trustBundlePem: this.ca.trustBundlePem(),
      controlPlaneIdentity: this.identity,
    };
  }

  async applyResources(items: unknown[], dryRun: boolean): Promise<ApplyResult> {
    const result = await this.resources.apply(items, dryRun);
    // Answer once the change is compiled (and pushed), as for agent reports.
    await this.snapshots.idle();
    return result;
  }
  listResources(kind?: ResourceKind): ResourceView[] {
    return this.resources.list(kind);
  }
  getResource(kind: ResourceKind, namespace: string, name: string): ResourceView | undefined {
    return this.resources.get(kind, namespace, name);
  }
  async deleteResource(kind: ResourceKind, namespace: string, name: string): Promise<boolean> {
    const deleted = await this.resources.delete(kind, namespace, name);
    await this.snapshots.idle();
    return deleted;
  }

  services(): ServiceView[] {
    return this.registry.services();
  }
  workloads(): WorkloadView[] {
    return this.registry.workloads();
  }
  endpoints(): EndpointView[] {
    return this.registry.endpoints();
  }

  proxies(): ProxyView[] {
    const out = new Map<string, ProxyView>();
    for (const n of this.registry.nodes()) out.set(n.nodeId, this.tracker.view(n.nodeId, n.identity, this.snapshots.get(n.nodeId)?.version ?? null));
    for (const s of this.tracker.all()) {
      if (!out.has(s.nodeId)) out.set(s.nodeId, this.tracker.view(s.nodeId, s.identity, this.snapshots.get(s.nodeId)?.version ?? null));
    }
    return [...out.values()].sort((a, b) => a.nodeId.localeCompare(b.nodeId));
  }

  snapshot(nodeId: string): { nodeId: string; version: number; snapshot: ProxySnapshot } | undefined {
    const c = this.snapshots.get(nodeId);
    return c === undefined ? undefined : { nodeId, version: c.version, snapshot: c.snapshot };
  }

  check(): Promise<CheckReport> {
    return runChecks({
      nodes: this.registry.nodes(),
      endpoints: this.registry.endpoints(),
      tracker: this.tracker,
      snapshots: this.snapshots,
      certTtlMs: this.o.certTtlMs,
      now: this.clock(),
      creds: this.creds as TlsCredentials,
      trustBundlePem: this.ca.trustBundlePem(),
    });
  }

  recentTraces(limit: number): TraceSummaryView[] {
    return this.traces.recent(limit);
  }
  trace(traceId: string): TraceView | undefined {
    return this.traces.trace(traceId);
  }

  async metricsText(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.metrics.registry.contentType, body: await this.metrics.registry.metrics() };
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.leaseTimer !== null) clearTimeout(this.leaseTimer);
    if (this.rotateTimer !== null) clearTimeout(this.rotateTimer);
    this.registry.removeAllListeners();
    this.resources.removeAllListeners();
    this.stats.close();
    await this.adminDispatcher.close();
    await Promise.all([this.push?.close(), this.api?.close()]);
    await this.snapshots.idle();
    await this.store.close();
    await removeInfo(join(this.o.stateDir, 'control-plane.json'), process.pid);
    this.logger.info('control plane stopped');
    this.logger.flush();
  }
}

async function readPackageVersion(): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(join(packageRoot, 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}
