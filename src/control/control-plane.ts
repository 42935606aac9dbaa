import { StatsService } from './stats/stats-service.js';
import { prometheusTargets } from './api/prometheus-sd.js';
import { ProxyAdminDispatcher, type AdminDispatcherFor } from './proxy-admin/admin-dispatcher.js';
import { mergeTrace, peerSpans } from './traces/peer-traces.js';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { HostPort } from '../api/common.js';
import type { AgentReport, CheckReport, EndpointView, ProxyView, ServiceView, WorkloadView } from '../api/registry.js';
import type { ApplyResult, ResourceKind, ResourceView } from '../api/resources.js';
import type { DefaultAction, ProxySnapshot, TracingConfig } from '../api/snapshot.js';
import type { TraceSummaryView, TraceView } from '../api/traces.js';
import type { WhyAnswer, WhyQuery } from '../api/why.js';
import { explainRequest } from './why/why.js';
import type { TracingSettings } from '../config/types.js';
import { TrellisError } from '../errors.js';
import type { CertificateAuthority } from '../identity/ca.js';
import { isInTrustDomain, spiffeId } from '../identity/spiffe.js';
import type { TlsCredentials } from '../identity/tls.js';
import { packageRoot } from '../util/paths.js';
import { ApiServer } from './api/api-server.js';
import type { ApiAuth, ApiBackend } from './api/api-server.js';
import { advertisedApiUrls, apiUsesTls, serverCertificateNames } from './api/api-tls.js';
import { ApiTokens } from './auth/api-tokens.js';
import { apiTokenPrincipal, authenticate } from './auth/authenticate.js';
import { loginCookieName } from './auth/dashboard-login.js';
import { Enrolment } from './auth/enrolment.js';
import { ensureLocalToken } from './auth/local-credentials.js';
import type { Principal } from './auth/principal.js';
import { renewalGraceMs } from './push/renewal.js';
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
import { openBackend, type EtcdSettings } from './backend.js';
import { ensurePrivateDir, removeInfo, writeInfo } from './state-files.js';
import type { Store, StoreChange } from './store/store.js';

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
  /** The mesh file's `spec.authorization.defaultAction` (services no policy gives one). Default allow. */
  defaultAction?: DefaultAction;
  /**
   * Keep the state in etcd (`--store etcd://...`) so several replicas can serve one mesh.
   * Absent: the file store in `<stateDir>/store` (what `trellis up` uses).
   */
  etcd?: EtcdSettings;
  /** How often the leader's garbage collection runs (expired tokens, versions of gone nodes). Default 60 s. */
  gcIntervalMs?: number;
  /**
   * Serve the REST API over HTTPS even on loopback (`--api-tls`). Off loopback it always is
   * (src/control/api/api-tls.ts).
   */
  apiTls?: boolean;
  /** Names and addresses hosts reach this control plane at: put in its certificate and in join tokens. */
  advertise?: string[];
}

/** Lifetime of the control plane's own server/client certificate (rotated at two thirds). */
const MIN_SERVER_CERT_TTL_MS = 3600_000;

/** The control plane: store, registry, compiler, CA, push server and REST API wired together. */
export class ControlPlane implements ApiBackend {
  readonly identity: string;
  /** This process among the replicas (announced in the store). */
  readonly replicaId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  readonly tokens: BootstrapTokens;
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
  /** `<stateDir>/admin-token` and `<stateDir>/read-token` (src/control/auth/local-credentials.ts). */
  adminToken = '';
  readToken = '';
  /** The snapshots' tracing block; known once the API address is bound. */
  private tracingConfig: TracingConfig | undefined;
  private push: PushServer | null = null;
  private api: ApiServer | null = null;
  private creds: TlsCredentials | null = null;
  /** Credentials and who may do what on the REST API (set in boot()). */
  auth!: ApiAuth;
  private readonly interfaceAddresses: string[];
  private leaseTimer: NodeJS.Timeout | null = null;
  private rotateTimer: NodeJS.Timeout | null = null;
  private gcTimer: NodeJS.Timeout | null = null;
  private compileRetry: NodeJS.Timeout | null = null;
  /** Nodes whose stored snapshot version the last GC found without a registered node (forgotten if still gone next time). */
  private gcSuspects = new Set<string>();
  private unsubscribeStore: (() => void) | null = null;
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
    this.tokens = new BootstrapTokens(store);
    this.interfaceAddresses = Object.values(networkInterfaces())
      .flatMap((list) => list ?? [])
      .filter((a) => !a.internal)
      .map((a) => a.address);
    this.registry = new Registry(o.trustDomain);
    this.resources = new ResourceStore(store, () => this.registry.services(), clock);
    this.snapshots = new SnapshotCache(
      this.registry,
      store,
      () => ca.trustBundlePem(),
      () => this.resources.resources(),
      (d) => this.logger.warn(d, 'route left out of the snapshot: the proxy would refuse it'),
      () => this.tracingConfig,
      () => o.defaultAction ?? 'allow',
      (workload, warnings) => this.logger.warn({ workload, warnings }, 'inbound policy: see `trellis why`'),
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
    const { store, ca, agentToken } = await openBackend({ stateDir: o.stateDir, trustDomain: o.trustDomain, etcd: o.etcd, logger }, clock);
    const cp = new ControlPlane(o, ca, store, agentToken, logger, clock);
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
    // Local credentials and this control plane's certificate first: the API needs both (HTTPS
    // off loopback), and the local tokens must be in the store before anyone calls.
    this.adminToken = await ensureLocalToken(this.store, this.o.stateDir, 'admin', this.clock);
    this.readToken = await ensureLocalToken(this.store, this.o.stateDir, 'read', this.clock);
    this.creds = await this.issueOwnCredentials();
    this.adminDispatcher.update(this.creds, this.ca.trustBundlePem());
    const tls = apiUsesTls(this.o.api, this.o.apiTls === true);
    this.auth = this.buildAuth(tls);
    // The API listens first, answering only once start-up is done: the snapshots' default
    // trace endpoint is its bound address, so the first compile already has it (and a restart
    // with the same content keeps every version).
    let opened = (): void => {};
    const ready = new Promise<void>((r) => (opened = r));
    this.api = await ApiServer.start(this.o.api, {
      backend: this,
      logger: this.logger,
      authenticate: (req) => this.authenticate(req),
      tls: tls ? { creds: this.creds, trustBundlePem: this.ca.trustBundlePem() } : null,
      ready,
    });
    this.auth.login.cookieName = loginCookieName(Number(new URL(this.api.url).port));
    this.tracingConfig = snapshotTracing(this.defaultTracing(), this.api.url, this.controlPlaneOrigins());
    // Every pass pushes what it changed (none before the push server is up).
    this.snapshots.onCompiled = (changed) => this.push?.push(changed);
    // Load the stored agents and subscribe to the store's changes with no await in between, so
    // no change another replica writes meanwhile is missed. Every lease restarts now: the
    // control plane being down never expires an endpoint.
    const now = this.clock();
    for (const a of this.store.agents()) this.registry.upsert(a.report, now);
    this.registry.on('changed', () => this.recompileAndPush());
    // Every change reaches this process through the store, whichever replica wrote it: agents
    // update the registry (whose 'changed' recompiles), resources recompile.
    this.unsubscribeStore = this.store.onChange((c) => this.onStoreChange(c));
    await this.snapshots.recompile();
    this.scheduleExpiry();
    this.gcTimer = setInterval(() => void this.collectGarbage(), this.o.gcIntervalMs ?? 60_000);
    this.gcTimer.unref();

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
    await this.store.announceReplica({ id: this.replicaId, apiUrl: this.api.url, pushUrl: this.push.url, startedAt: this.clock() });
    opened();
    await writeInfo(join(this.o.stateDir, 'control-plane.json'), {
      pid: process.pid,
      apiUrl: this.api.url,
      pushUrl: this.push.url,
      trustDomain: this.o.trustDomain,
    });
    this.logger.info(
      { apiUrl: this.api.url, pushUrl: this.push.url, trustDomain: this.o.trustDomain, store: this.store.kind, replica: this.replicaId, tracing: this.tracingConfig ?? 'off' },
      'control plane started',
    );
  }

  /**
   * Unset tracing means "to this control plane" on the file store. Replicas over etcd must all
   * put the same tracing block in the same snapshot (its hash decides the version), and no
   * replica's own address is common to all: there, tracing is off unless a collector is given.
   */
  /** Origins of every control-plane API this replica knows of: its own addresses and the other replicas'. */
  private controlPlaneOrigins(): string[] {
    const own = this.api === null ? [] : [this.api.url, ...advertisedApiUrls({ host: this.o.api.host, port: Number(new URL(this.api.url).port) }, this.o.advertise ?? [], this.interfaceAddresses)];
    return [...own, ...this.store.replicas().map((r) => r.apiUrl)].map((u) => {
      try {
        return new URL(u).origin;
      } catch {
        return '';
      }
    });
  }

  private defaultTracing(): TracingSettings | null {
    if (this.o.tracing !== undefined) return this.o.tracing;
    if (this.store.kind === 'file') return DEFAULT_TRACING;
    this.logger.info('tracing is off by default with the etcd store: give --trace-collector (the same on every replica) to turn it on');
    return null;
  }

  private onStoreChange(c: StoreChange): void {
    if (this.closing) return;
    switch (c.kind) {
      case 'agent':
        if (c.agent !== null) this.registry.upsert(c.agent.report, this.clock());
        else this.registry.remove(c.agentId);
        this.scheduleExpiry();
        return;
      case 'resources':
        this.recompileAndPush();
        return;
      case 'resync': {
        this.logger.warn('store view reloaded (its etcd watch failed, or fell behind compaction): rebuilding the registry');
        const now = this.clock();
        const present = new Set<string>();
        for (const a of this.store.agents()) {
          present.add(a.report.agentId);
          this.registry.upsert(a.report, now);
        }
        for (const id of this.registry.agentIds()) if (!present.has(id)) this.registry.remove(id);
        this.recompileAndPush();
        return;
      }
      case 'snapshots':
        // Another replica claimed versions (or this one did): agree with it where it matters.
        this.snapshots.reconcile(c.nodeIds).catch((err: unknown) => this.compileFailed(err));
        return;
    }
  }

  /**
   * Work that must happen once however many replicas run, done by the leader only (the file
   * store's only process always is): sweep expired bootstrap tokens, and forget the stored
   * snapshot versions of nodes that were gone at two GCs in a row (a node briefly away, e.g.
   * restarting, keeps its version).
   */
  private async collectGarbage(): Promise<void> {
    if (this.closing || !this.store.isLeader()) return;
    try {
      const swept = await this.tokens.sweep(this.clock());
      const nodes = new Set(this.registry.nodes().map((n) => n.nodeId));
      const gone = [...this.store.snapshotVersions().keys()].filter((id) => !nodes.has(id));
      const forget = gone.filter((id) => this.gcSuspects.has(id));
      this.gcSuspects = new Set(gone.filter((id) => !this.gcSuspects.has(id)));
      if (forget.length > 0) await this.store.forgetSnapshotVersions(forget);
      if (swept > 0 || forget.length > 0) this.logger.info({ tokens: swept, snapshotVersions: forget.length }, 'garbage collected');
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'garbage collection failed; trying again next interval');
    }
  }

  private serverCertTtl(): number {
    return Math.max(this.o.certTtlMs, MIN_SERVER_CERT_TTL_MS);
  }

  /** The control plane's certificate: push server and client for "peers verified"; rotated at 2/3 of its life. */
  private async issueOwnCredentials(): Promise<TlsCredentials> {
    const { dns, ips } = serverCertificateNames({ listen: [this.o.api, this.o.push], advertise: this.o.advertise ?? [], hostname: hostname(), interfaceAddresses: this.interfaceAddresses });
    const ttl = this.serverCertTtl();
    const issued = await this.ca.issueServerCertificate(this.identity, dns, ips, ttl);
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
      this.api?.setCredentials(this.creds);
      this.adminDispatcher.update(this.creds, this.ca.trustBundlePem());
      this.logger.info('rotated the control plane certificate');
    } catch (err) {
      this.logger.error({ err }, 'rotating the control plane certificate failed; retrying in 10s');
      this.rotateTimer = setTimeout(() => void this.rotateOwnCredentials(), 10_000);
      this.rotateTimer.unref();
    }
  }

  private buildAuth(tls: boolean): ApiAuth {
    const apiTokens = new ApiTokens(this.store, this.clock);
    const enrolment = new Enrolment({
      store: this.store,
      ca: this.ca,
      certTtlMs: this.o.certTtlMs,
      clock: this.clock,
      controlPlaneIdentity: this.identity,
      trustDomain: this.o.trustDomain,
      renewalGraceMs: renewalGraceMs(this.o.certTtlMs),
      addresses: () => this.joinAddresses(),
    });
    return {
      apiTokens,
      enrolment,
      scope: { policy: (host) => this.store.hostPolicies().get(host), nodeOwner: (nodeId) => this.registry.node(nodeId)?.agentId, reportedAccounts: (agentId) => this.registry.report(agentId)?.workloads, trustDomain: this.o.trustDomain },
      login: {
        cookieName: '',
        secure: tls,
        valid: (token) => apiTokenPrincipal(token, 'cookie', this.authOptions()).kind === 'token',
      },
    };
  }

  /**
   * Where a joining host finds the control plane (in its join token): this replica's advertised
   * HTTPS URLs, then every other replica's (over etcd), so a host can join, and its agent call,
   * whichever replica is up. Only over HTTPS: a join verifies the server against the pinned CA.
   */
  private joinAddresses(): string[] {
    if (this.api?.tls !== true) return [];
    const own = advertisedApiUrls({ host: this.o.api.host, port: Number(new URL(this.api.url).port) }, this.o.advertise ?? [], this.interfaceAddresses);
    const others = this.store
      .replicas()
      .filter((r) => r.id !== this.replicaId && r.apiUrl.startsWith('https://'))
      .map((r) => r.apiUrl)
      .filter((u) => !/^https:\/\/(0\.0\.0\.0|\[::\])[:/]/.test(u));
    return [...new Set([...own, ...others])];
  }

  private authOptions(): Parameters<typeof authenticate>[1] {
    return { trustDomain: this.o.trustDomain, store: this.store, localAgentToken: this.agentToken, clock: this.clock, cookieName: this.auth.login.cookieName };
  }

  private authenticate(req: IncomingMessage): Principal {
    return authenticate(req, this.authOptions());
  }

  /**
   * After a registry or resource change: recompile the nodes it can affect; every pass pushes
   * to those whose content changed (snapshots.onCompiled, set in boot). Changes that arrive
   * while a pass waits to start join it.
   */
  private recompileAndPush(): void {
    if (this.closing) return;
    this.metrics.recompiles.inc();
    this.snapshots.recompile().catch((err: unknown) => this.compileFailed(err));
  }

  /**
   * A pass failed (over etcd: the store did not answer its claim). The nodes it looked at are
   * kept for the next pass (SnapshotCache); run one in a second rather than wait for the next
   * change, which may be long in coming (agents' renewals change nothing).
   */
  private compileFailed(err: unknown): void {
    this.logger.error({ err }, 'compiling snapshots failed; trying again in 1 s');
    if (this.closing || this.compileRetry !== null) return;
    this.compileRetry = setTimeout(() => {
      this.compileRetry = null;
      this.recompileAndPush();
    }, 1000);
    this.compileRetry.unref();
  }

  /** File store only: leases end here. Over etcd, etcd ends them (agents' reports are on etcd leases). */
  private scheduleExpiry(): void {
    if (this.store.expiresAgents) return;
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

  trustBundlePem(): string[] {
    return this.ca.trustBundlePem();
  }

  async reportAgent(agentId: string, report: AgentReport): Promise<void> {
    const now = this.clock();
    // The store's change event updates the registry (and, on the file store, restarts the lease).
    await this.store.putAgent({ report, receivedAt: now });
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

  async issueToken(nodeId: string, identity: string): Promise<{ token: string; pushUrl: string; pushUrls: string[]; trustBundlePem: string[]; controlPlaneIdentity: string }> {
    if (!isInTrustDomain(identity, this.o.trustDomain)) {
      throw new TrellisError('TRELLIS_E_IDENTITY', `identity: ${identity} is outside trust domain "${this.o.trustDomain}"`);
    }
    const known = this.registry.node(nodeId)?.identity;
    if (known !== undefined && known !== identity) {
      throw new TrellisError('TRELLIS_E_IDENTITY', `identity: node ${nodeId} is registered as ${known}, not ${identity}`);
    }
    // This replica first, then the others: a proxy fails over down the list.
    const others = this.store.replicas().filter((r) => r.id !== this.replicaId).map((r) => r.pushUrl);
    return {
      token: await this.tokens.issue(nodeId, identity, this.clock()),
      pushUrl: this.pushUrl,
      pushUrls: [this.pushUrl, ...others.filter((u) => u !== this.pushUrl)],
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

  /** `trellis why`: from the snapshots as compiled now (src/control/why). */
  why(q: WhyQuery): WhyAnswer {
    return explainRequest(
      {
        nodes: () => this.registry.nodes(),
        servingWorkloads: (ns, svc) => this.registry.servingWorkloads(ns, svc),
        snapshot: (nodeId) => this.snapshots.get(nodeId)?.snapshot,
        warnings: (nodeId) => this.snapshots.inboundOf(nodeId)?.warnings ?? [],
      },
      q,
    );
  }

  check(): Promise<CheckReport> {
    return runChecks({
      nodes: this.registry.nodes(),
      endpoints: this.registry.endpoints(),
      workloads: this.registry.workloads(),
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
  async traceAcrossReplicas(traceId: string): Promise<TraceView | undefined> {
    const local = this.traces.trace(traceId);
    const peers = this.store
      .replicas()
      .filter((r) => r.id !== this.replicaId)
      .map((r) => r.apiUrl)
      .filter((u) => !/^https?:\/\/(0\.0\.0\.0|\[::\])[:/]/.test(u));
    if (peers.length === 0) return local;
    return mergeTrace(traceId, local, await peerSpans(traceId, { peers, token: this.readToken, trustBundlePem: this.ca.trustBundlePem() }));
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
    if (this.gcTimer !== null) clearInterval(this.gcTimer);
    if (this.compileRetry !== null) clearTimeout(this.compileRetry);
    this.unsubscribeStore?.();
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
