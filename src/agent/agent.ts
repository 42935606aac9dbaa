import { createHash } from 'node:crypto';
import { chmod, mkdir } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { EgressLock } from './egress-lock/egress-lock.js';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import type { ProxyBootstrap } from '../api/bootstrap.js';
import type { AgentReport, WorkloadReport } from '../api/registry.js';
import type { MeshConfig } from '../config/types.js';
import { RESTART_BACKOFF, type BackoffOptions } from '../util/backoff.js';
import { systemClock, type Clock } from '../util/clock.js';
import { formatHostPort, httpUrl } from '../util/hostport.js';
import { ingressListeners } from './bootstrap.js';
import { RegistryClient } from './client.js';
import type { ControlPlaneCredential } from './credentials/credential.js';
import { LocalAgentToken } from './credentials/local-token.js';
import { ExposureWatch, type ExposureWatchOptions } from './exposure/watch.js';
import { killLeftovers, PidRegistry } from './pids.js';
import { advertiseAddressProblem, ingressReplicasOn, isLoopbackAddress, isWildcard, replicasOn } from './placement.js';
import { describeFixed, PortAllocator, probeBind } from './ports.js';
import { PROXY_PROBE_PERIOD_MS } from './proxy-watch.js';
import { defaultProxyCommand, ReplicaRunner, type ReplicaContext, type ReplicaPorts } from './replica.js';
import { Reporter } from './reporter.js';
import { AppUsers, systemAccounts, type Accounts } from './run-as/index.js';
import { LOOPBACK } from './bootstrap.js';
import { TrellisError } from '../errors.js';

export interface AgentOptions {
  mesh: MeshConfig;
  stateDir: string;
  /** Control plane REST API, e.g. http://127.0.0.1:15000; several (a list, or comma-separated) for replicas. */
  controlPlaneUrl: string | string[];
  /** Default: the credential's host (a joined host), else the host name (`host`, else this machine's). */
  agentId?: string;
  /** What the agent presents to the control plane. Default: `<stateDir>/agent-token` (LocalAgentToken). */
  credential?: ControlPlaneCredential;
  /**
   * This host's name for the mesh file's `hosts` placement (docs/multi-host.md). Default: the
   * joined host's name, else the machine's host name. null: run every host's share here
   * (`trellis up`, one machine).
   */
  host?: string | null;
  /**
   * Address this host's peers dial: inbound mTLS listeners bind it and endpoints carry it.
   * Default 127.0.0.1 (one host). Apps, outbound and admin listeners stay on loopback.
   */
  advertiseAddress?: string;
  logger?: Logger;
  /** Log level handed to proxies. Default 'info'. */
  proxyLogLevel?: ProxyBootstrap['logLevel'];
  /** Environment workloads and proxies inherit. Default: this process's. */
  env?: Record<string, string | undefined>;
  clock?: Clock;
  restartBackoff?: BackoffOptions;
  /** A crashed app that ran this long starts its backoff over. Default 60 s. */
  healthyResetMs?: number;
  reportIntervalMs?: number;
  leaseMs?: number;
  /** Time for a 'stopping' report to reach every proxy before proxies are stopped. Default 1 s. */
  stopSpreadMs?: number;
  /** SIGTERM -> SIGKILL for apps. Default 5 s. */
  stopTimeoutMs?: number;
  proxyReadyTimeoutMs?: number;
  /** How often each running proxy's /ready is probed. Default 1 s (PROXY_PROBE_PERIOD_MS). */
  proxyProbePeriodMs?: number;
  /**
   * The plaintext-bypass watch's knobs (scan interval; the nft runner, platform and uid that
   * tests replace). Default: scan every 2 s, real /proc and `nft`.
   */
  exposure?: Partial<Pick<ExposureWatchOptions, 'intervalMs' | 'scan' | 'nft' | 'platform' | 'uid'>>;
  /** argv that runs a proxy from a bootstrap file. Default: `node <cliEntry> proxy --bootstrap <file> --exit-on-stdin-close`. */
  proxyCommand?: (bootstrapFile: string) => string[];
  /** Users and groups (src/agent/run-as). Default: the system's, through getent. */
  accounts?: Accounts;
}

/**
 * The host agent: runs every workload replica of a mesh file with its proxy, and every
 * ingress as a proxy alone, keeps them running, and reports them to the control plane.
 */
export class Agent {
  readonly agentId: string;
  /** Name matched against `hosts` in the mesh file; null: every host's share. */
  readonly host: string | null;
  readonly advertiseAddress: string;
  private readonly opts: AgentOptions;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly client: RegistryClient;
  private readonly pids: PidRegistry;
  private readonly reporter: Reporter;
  private replicas: ReplicaRunner[] = [];
  private exposure: ExposureWatch | null = null;
  private started = false;
  private stopped: Promise<void> | null = null;
  private readonly appUsers: AppUsers;
  private readonly appWarningLines = new Set<string>();

  constructor(opts: AgentOptions) {
    this.opts = opts;
    const credential: ControlPlaneCredential = opts.credential ?? new LocalAgentToken(opts.stateDir, opts.controlPlaneUrl);
    this.host = opts.host === undefined ? (credential.boundAgentId ?? hostname()) : opts.host;
    // A joined host's certificate names its host: the control plane accepts no other agent id from it.
    this.agentId = credential.boundAgentId ?? opts.agentId ?? this.host ?? hostname();
    this.advertiseAddress = opts.advertiseAddress ?? LOOPBACK;
    const problem = advertiseAddressProblem(this.advertiseAddress);
    if (problem !== null) throw new TrellisError('TRELLIS_E_CONFIG', `advertise address: ${problem}`);
    this.logger = (opts.logger ?? pino({ level: 'warn' }, pino.destination(2))).child({ agent: this.agentId });
    this.clock = opts.clock ?? systemClock;
    this.client = new RegistryClient(opts.controlPlaneUrl, credential);
    this.pids = new PidRegistry(opts.stateDir, this.logger);
    const me = userInfo();
    this.appUsers = new AppUsers(opts.accounts ?? systemAccounts, { uid: me.uid, name: me.username }, opts.stateDir);
    this.reporter = new Reporter(this.client, () => this.report(), this.clock, this.logger, opts.reportIntervalMs ?? 5000);
  }

  /** Starts everything; resolves when every replica is ready. On failure, stops what started. */
  /** registryOnly's kernel lock, while installed. */
  private egressLock: EgressLock | null = null;

  async start(): Promise<void> {
    if (this.started) throw new Error('Agent.start() called twice');
    this.started = true;
    const { stateDir } = this.opts;
    await mkdir(join(stateDir, 'run'), { recursive: true, mode: 0o700 });
    await mkdir(join(stateDir, 'logs'), { recursive: true });
    // The state directory holds credentials: apps running as another user must not enter it.
    await chmod(stateDir, 0o700);
    await killLeftovers(stateDir, this.logger);
    await this.client.prepare();
    await this.checkAdvertiseAddress();
    try {
      await this.lockEgress();
      this.replicas = await this.plan();
      if (this.stopped !== null) throw new Error('agent stopped while starting');
      this.exposure = new ExposureWatch({
        apps: () => this.replicas,
        lockRequested: this.opts.mesh.lockAppPorts,
        appPorts: this.replicas.flatMap((r) => [...r.ports.app.values()]),
        stateDir,
        clock: this.clock,
        logger: this.logger,
        onChange: () => this.reporter.notify(),
        ...this.opts.exposure,
      });
      // With lockAppPorts, the handed-out app ports are closed before any app can listen on them.
      await this.exposure.prepare();
      this.exposure.start();
      // The control plane gives identities only to workloads an agent has reported: report first.
      await this.reporter.sendNow();
      this.reporter.start();
      // The first failure stops everything (stop() aborts the replicas still starting).
      await Promise.all(this.replicas.map((r) => r.start()));
      if (this.stopped !== null) throw new Error('agent stopped while starting');
      await this.reporter.sendNow();
      this.reporter.notify();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /**
   * registryOnly: confine the apps in the kernel too (src/agent/egress-lock), before any app
   * starts. Where the host does not allow it, say so and go on: the proxies still refuse
   * undeclared destinations, but an app could dial past its proxy.
   */
  private async lockEgress(): Promise<void> {
    if (this.opts.mesh.outbound.mode !== 'registryOnly') return;
    const id = createHash('sha256').update(this.opts.stateDir).digest('hex').slice(0, 12);
    const lock = new EgressLock({ id });
    const r = await lock.install();
    if (r.ok) {
      this.egressLock = lock;
      this.logger.info({ cgroup: r.cgroupProcs }, 'registryOnly enforced in the kernel: apps may reach loopback only');
    } else {
      this.logger.warn({ reason: r.reason }, `registryOnly is enforced by the proxies only, not in the kernel (${r.reason}): an app could dial past its proxy`);
    }
  }


  /** The inbound listeners will bind the advertise address: fail now, with its name, if they cannot. */
  private async checkAdvertiseAddress(): Promise<void> {
    if (this.advertiseAddress === LOOPBACK) return;
    try {
      await probeBind(this.advertiseAddress, 0);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      const why = code === 'EADDRNOTAVAIL' ? 'it is not an address of this host' : code;
      throw new TrellisError('TRELLIS_E_CONFIG', `advertise address ${this.advertiseAddress}: cannot listen there (${why})`, { cause: err });
    }
  }

  /** Allocates ports and builds a runner per replica this host runs (workloads first, then ingress). */
  private async plan(): Promise<ReplicaRunner[]> {
    const { mesh } = this.opts;
    const ports = new PortAllocator();
    // Fixed app ports are never handed to anything else, even while their app is not listening.
    for (const w of mesh.workloads) for (const p of w.ports) if (p.appPort !== null) ports.reserve(p.appPort);
    const inboundHost = this.advertiseAddress;
    const inboundPorts = inboundHost === LOOPBACK ? ports : new PortAllocator(inboundHost);
    // Across hosts the control plane reaches each proxy's admin endpoints through a second,
    // mTLS listener on this host's address (src/proxy/admin/remote-admin-server.ts).
    const remoteAdminPort = async (): Promise<{ remoteAdmin?: number }> => (isLoopbackAddress(inboundHost) ? {} : { remoteAdmin: await inboundPorts.allocate() });
    const ctx: ReplicaContext = {
      mesh,
      stateDir: this.opts.stateDir,
      agentId: this.agentId,
      client: this.client,
      pids: this.pids,
      logger: this.logger,
      clock: this.clock,
      logLevel: this.opts.proxyLogLevel ?? 'info',
      baseEnv: this.opts.env ?? { ...process.env },
      restartBackoff: this.opts.restartBackoff ?? RESTART_BACKOFF,
      healthyResetMs: this.opts.healthyResetMs ?? 60_000,
      proxyReadyTimeoutMs: this.opts.proxyReadyTimeoutMs ?? 30_000,
      stopTimeoutMs: this.opts.stopTimeoutMs ?? 5000,
      proxyProbePeriodMs: this.opts.proxyProbePeriodMs ?? PROXY_PROBE_PERIOD_MS,
      onChange: () => this.reporter.notify(),
      proxyCommand: this.opts.proxyCommand ?? defaultProxyCommand,
      appCgroupProcs: () => this.egressLock?.cgroupProcs ?? null,
      appUsers: this.appUsers,
      warnApp: (line) => {
        if (this.appWarningLines.has(line)) return;
        this.appWarningLines.add(line);
        this.logger.warn(line);
      },
    };
    const out: ReplicaRunner[] = [];
    for (const w of mesh.workloads) {
      for (const i of replicasOn(w, this.host)) {
        const p: ReplicaPorts = { admin: await ports.allocate(), app: new Map(), inbound: new Map(), inboundHost, outbound: [], ...(await remoteAdminPort()) };
        for (const port of w.ports) {
          p.app.set(port.name, port.appPort ?? (await ports.allocate()));
          p.inbound.set(port.name, await inboundPorts.allocate());
        }
        for (const [j, u] of w.upstreams.entries()) {
          p.outbound.push(u.listen !== null ? await ports.claim(u.listen, describeFixed('upstream', w.name, j)) : { host: '127.0.0.1', port: await ports.allocate() });
        }
        // One egress listener per mesh-file `spec.outbound.ports` entry, same order.
        p.egress = [];
        for (let j = 0; j < mesh.outbound.ports.length; j++) p.egress.push({ host: '127.0.0.1', port: await ports.allocate() });
        out.push(new ReplicaRunner(ctx, { kind: 'workload', workload: w }, i, p));
      }
    }
    for (const g of mesh.ingress) {
      for (const i of ingressReplicasOn(g, this.host)) {
        const outbound: { host: string; port: number }[] = [];
        for (const l of ingressListeners(g)) outbound.push(await ports.claim(l.listen, describeFixed('ingress', g.name, 0, l.tls)));
        out.push(new ReplicaRunner(ctx, { kind: 'ingress', ingress: g }, i, { admin: await ports.allocate(), app: new Map(), inbound: new Map(), inboundHost, outbound, ...(await remoteAdminPort()) }));
      }
    }
    return out;
  }

  /** Apps that can read the mesh's credentials, and why (one line each; `up` prints them). */
  appWarnings(): string[] {
    return [...this.appWarningLines];
  }

  /** How many replicas (workload and ingress) run on this host. */
  get replicaCount(): number {
    return this.replicas.length;
  }

  /**
   * Every ingress listener with the port actually bound: `<name>` -> `http://host:port` for a
   * plain one, `<name>.tls` -> `https://host:port` for a TLS one (docs/cli.md, the ready line);
   * one on a wildcard address (0.0.0.0) is shown at the advertise address, which clients can dial.
   */
  ingressUrls(): { name: string; url: string }[] {
    return this.replicas.flatMap((r) =>
      r.spec.kind !== 'ingress'
        ? []
        : ingressListeners(r.spec.ingress).map((l, i) => {
            const bound = r.ports.outbound[i] as { host: string; port: number };
            const at = isWildcard(bound.host) ? { host: this.advertiseAddress, port: bound.port } : bound;
            return l.tls ? { name: `${r.name}.tls`, url: `https://${formatHostPort(at)}` } : { name: r.name, url: httpUrl(at) };
          }),
    );
  }

  /** The full report the control plane receives. */
  report(): AgentReport {
    const workloads: WorkloadReport[] = [];
    const { mesh } = this.opts;
    // Only what runs here: a workload placed on other hosts is theirs to report.
    for (const w of mesh.workloads.filter((x) => replicasOn(x, this.host).length > 0)) {
      workloads.push({
        namespace: mesh.namespace,
        name: w.name,
        service: w.service,
        serviceAccount: w.serviceAccount,
        // mtls only when PERMISSIVE (absent: STRICT, as PortSpec says): the ports services list stay as before the mode existed.
        ports: w.ports.map((p) => ({ name: p.name, protocol: p.protocol, ...(p.mtls === 'PERMISSIVE' ? { mtls: p.mtls } : {}) })),
        upstreams: w.upstreams.map((u) => u.cluster),
        ingress: false,
        loadBalancer: w.loadBalancer,
        labels: { ...w.labels },
        replicas: this.replicas.filter((r) => r.spec.kind === 'workload' && r.name === w.name).map((r) => r.report()),
      });
    }
    for (const g of mesh.ingress.filter((x) => ingressReplicasOn(x, this.host).length > 0)) {
      workloads.push({
        namespace: mesh.namespace,
        name: g.name,
        service: g.name,
        serviceAccount: g.name,
        ports: [],
        upstreams: [g.cluster],
        ingress: true,
        replicas: this.replicas.filter((r) => r.spec.kind === 'ingress' && r.name === g.name).map((r) => r.report()),
      });
    }
    const services = mesh.services.map((s) => ({ namespace: mesh.namespace, name: s.name, selector: { ...s.selector } }));
    return {
      agentId: this.agentId,
      hostname: hostname(),
      leaseMs: this.opts.leaseMs ?? 15_000,
      workloads,
      ...(services.length > 0 ? { services } : {}),
      ...(this.exposure !== null ? { appPortLock: this.exposure.report() } : {}),
    };
  }

  /**
   * Stops in order: report every replica 'stopping' (peers stop sending), wait for that to
   * spread, stop proxies (they drain), stop apps, deregister. Safe to call more than once.
   */
  stop(): Promise<void> {
    this.stopped ??= this.doStop();
    return this.stopped;
  }

  private async doStop(): Promise<void> {
    for (const r of this.replicas) r.markStopping();
    if (this.replicas.length > 0) {
      const reported = await this.reporter.sendNow();
      // Give the push a moment to take 'stopping' endpoints out of peers' load balancing,
      // unless no replica was ever ready (then no peer ever sent to one).
      if (reported && this.replicas.some((r) => r.everReady)) await this.clock.sleep(this.opts.stopSpreadMs ?? 1000);
    }
    await this.reporter.stop();
    this.logger.info('stopping proxies (they drain)');
    await Promise.all(this.replicas.map((r) => r.stopProxy()));
    this.logger.info('stopping apps');
    await Promise.all(this.replicas.map((r) => r.stopApp()));
    // Apps are gone: their ports need no lock any more (the rules are removed with them).
    await this.exposure?.stop();
    if (this.egressLock !== null) {
      const err = await this.egressLock.remove();
      if (err !== null) this.logger.warn({ err }, 'could not remove the egress nftables table');
      this.egressLock = null;
    }
    this.logger.info('agent stopped');
    try {
      await this.client.deleteAgent(this.agentId);
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'could not deregister the agent');
    }
    await this.pids.clear();
    await this.client.close().catch(() => undefined);
  }

  /** Second Ctrl-C: SIGKILL every child now. */
  kill(): void {
    for (const r of this.replicas) r.kill();
  }
}
