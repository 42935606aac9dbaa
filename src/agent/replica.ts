import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ProxyBootstrap } from '../api/bootstrap.js';
import type { ReplicaReport, ReplicaState } from '../api/registry.js';
import type { MeshConfig, WorkloadConfig } from '../config/types.js';
import { TrellisError } from '../errors.js';
import { Backoff, type BackoffOptions } from '../util/backoff.js';
import type { Clock } from '../util/clock.js';
import { cliEntry } from '../util/paths.js';
import type { RegistryClient, TokenResponse } from './client.js';
import { buildAppEnv, expandCommand, meshVariables } from './env.js';
import { admitToCgroup, confinedArgv } from './egress-lock/egress-lock.js';
import type { PidRegistry } from './pids.js';
import { isLoopbackAddress } from './placement.js';
import { httpProbe, readinessProbe, type ProxyReadiness, type Readiness } from './probe.js';
import { watchProxy } from './proxy-watch.js';
import { buildBootstrap, LOOPBACK as HOST, newAdminToken, replicaIdentity, type ReplicaPorts, type ReplicaSpec } from './bootstrap.js';
import type { Exposure } from './exposure/exposure.js';
import type { WatchedApp } from './exposure/watch.js';
import { describeLog, LOG_LINES_SCANNED } from './log-excerpt.js';
import { Child, describeExit, resolveCommand, tailFile, type ExitInfo } from './process.js';
import type { AppUsers, RunAs } from './run-as/index.js';

export type { ReplicaPorts, ReplicaSpec } from './bootstrap.js';

/** What every replica shares: the agent's dependencies and settings. */
export interface ReplicaContext {
  mesh: MeshConfig;
  stateDir: string;
  agentId: string;
  client: RegistryClient;
  pids: PidRegistry;
  logger: Logger;
  clock: Clock;
  logLevel: ProxyBootstrap['logLevel'];
  baseEnv: Record<string, string | undefined>;
  restartBackoff: BackoffOptions;
  healthyResetMs: number;
  proxyReadyTimeoutMs: number;
  stopTimeoutMs: number;
  /** How often a running proxy's /ready is probed (PROXY_PROBE_PERIOD_MS unless a test shortens it). */
  proxyProbePeriodMs: number;
  onChange(): void;
  proxyCommand(bootstrapFile: string): string[];
  /** registryOnly with the kernel lock installed: the apps' cgroup.procs, apps start inside it. */
  appCgroupProcs?: () => string | null;
  /** Which user runs each app (src/agent/run-as). */
  appUsers: AppUsers;
  /** Said once per distinct line in `up`'s output: apps that can read the mesh's credentials. */
  warnApp(line: string): void;
}

/**
 * A proxy runs beside every workload, so its memory counts many times over. A 1 MB young
 * generation semi-space saves 10-14 MB of peak RSS per proxy under full load for a CPU cost
 * within run-to-run noise (0-5%), measured with bench/ (docs/performance.md).
 */
export const PROXY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

export function defaultProxyCommand(bootstrapFile: string): string[] {
  return [process.execPath, ...PROXY_NODE_FLAGS, cliEntry, 'proxy', '--bootstrap', bootstrapFile, '--exit-on-stdin-close'];
}

/**
 * One replica: its proxy, its app (none for an ingress), readiness probing, restarts.
 * start() resolves once the replica is ready, or rejects with a TrellisError saying why not;
 * cleaning up is the agent's job (it stops every replica).
 */
export class ReplicaRunner implements WatchedApp {
  readonly name: string;
  readonly nodeId: string;
  readonly identity: string;
  state: ReplicaState = 'starting';
  restarts = 0;
  lastExit: ReplicaReport['lastExit'] = null;
  private app: Child | null = null;
  /** Who the app runs as (null: as the agent). */
  private runAs: RunAs | null = null;
  private proxy: Child | null = null;
  private appStartedAt = 0;
  private stopping = false;
  private readonly abort = new AbortController();
  private readonly appBackoff: Backoff;
  private readonly proxyBackoff: Backoff;
  private startWaiter: { resolve(): void; reject(err: Error): void } | null = null;
  /** For an app run by something else: the warning due if it is not ready by its start timeout. */
  private externalTimer: { cancel(): void } | null = null;
  private probeFailures = 0;
  /** The current proxy passed its start and has not been found draining or failing since. */
  private proxyServing = false;
  private watchingProxy = false;
  private readonly log: Logger;
  private readonly readiness: Readiness = { describe: () => 'none', run: () => Promise.resolve(true) };
  /** App listeners beyond loopback, from the agent's last scan (exposure/watch.ts). */
  private exposed: string[] = [];

  constructor(
    private readonly ctx: ReplicaContext,
    readonly spec: ReplicaSpec,
    readonly replica: number,
    readonly ports: ReplicaPorts,
  ) {
    const id = replicaIdentity(ctx.mesh, spec, replica);
    this.name = id.name;
    this.nodeId = id.nodeId;
    this.identity = id.identity;
    if (spec.kind === 'workload') this.readiness = readinessProbe(spec.workload, ports.app, HOST);
    this.appBackoff = new Backoff(ctx.restartBackoff);
    this.proxyBackoff = new Backoff(ctx.restartBackoff);
    this.log = ctx.logger.child({ replica: `${this.name}/${replica}` });
  }

  private get bootstrapPath(): string {
    return join(this.ctx.stateDir, 'run', `${this.name}-${this.replica}.bootstrap.json`);
  }

  get adminUrl(): string {
    return `http://${HOST}:${this.ports.admin}`;
  }

  /** What the control plane is told: the loopback admin URL on one host, the remote (https) one across hosts. */
  private get reportedAdminUrl(): string {
    if (isLoopbackAddress(this.ports.inboundHost)) return this.adminUrl;
    if (this.ports.remoteAdmin === undefined) return '';
    const host = this.ports.inboundHost.includes(':') ? `[${this.ports.inboundHost}]` : this.ports.inboundHost;
    return `https://${host}:${this.ports.remoteAdmin}`;
  }

  private get label(): string {
    return this.spec.kind === 'workload' ? `workload ${this.name} (replica ${this.replica})` : `ingress ${this.name}`;
  }

  private logPath(kind: 'app' | 'proxy' | 'access'): string {
    return join(this.ctx.stateDir, 'logs', `${this.name}-${this.replica}.${kind}.log`);
  }

  appPid(): number | null {
    return this.spec.kind === 'workload' && this.app?.running === true ? this.app.pid : null;
  }

  setExposed(found: Exposure[]): boolean {
    const next = found.map((e) => e.address);
    if (next.join(' ') === this.exposed.join(' ')) return false;
    this.exposed = next;
    return true;
  }

  report(): ReplicaReport {
    const endpoints =
      this.spec.kind === 'workload'
        ? this.spec.workload.ports.map((p) => ({ port: p.name, protocol: p.protocol, host: this.ports.inboundHost, portNumber: this.ports.inbound.get(p.name) as number }))
        : [];
    return {
      replica: this.replica,
      nodeId: this.nodeId,
      state: this.state,
      restarts: this.restarts,
      appPid: this.app?.running === true ? this.app.pid : null,
      proxyPid: this.proxy?.running === true ? this.proxy.pid : null,
      // Admin listeners stay on loopback. Across hosts (a non-loopback advertise address) the
      // control plane could not reach them (its 127.0.0.1 is another machine), so it is given
      // the proxy's remote admin listener: https on this host's address, mTLS, control plane only.
      adminUrl: this.reportedAdminUrl,
      endpoints,
      ...(this.exposed.length > 0 ? { exposed: [...this.exposed] } : {}),
      lastExit: this.lastExit,
    };
  }

  /** True once the replica was reported ready (peers may send to it; stopping must tell them). */
  everReady = false;

  private setState(s: ReplicaState): void {
    if (s === 'ready') this.everReady = true;
    if (this.state === s) return;
    this.log.info({ from: this.state, to: s }, 'replica state');
    this.state = s;
    this.ctx.onChange();
  }

  async start(): Promise<void> {
    await this.startProxy(true);
    if (this.spec.kind === 'ingress') {
      this.setState('ready');
      return;
    }
    const workload = this.spec.workload;
    if (workload.command === null) {
      this.watchExternalApp(workload);
      return;
    }
    this.runAs = await this.decideUser(workload);
    const ready = new Promise<void>((resolve, reject) => (this.startWaiter = { resolve, reject }));
    const timer = this.ctx.clock.setTimeout(() => {
      this.failStart(
        new TrellisError(
          'TRELLIS_E_TIMEOUT',
          `${this.label} did not become ready within ${workload.readiness.startTimeoutMs / 1000}s (readiness: ${this.readiness.describe()}); see ${this.logPath('app')}`,
        ),
      );
    }, workload.readiness.startTimeoutMs);
    try {
      this.startApp();
      void this.probeLoop();
      await ready;
    } finally {
      timer.cancel();
      this.startWaiter = null;
    }
  }

  /**
   * A workload without `command` (something else runs its app): the proxy is up, so start()
   * is done; the endpoint joins load balancing once the readiness probe passes. Its app may
   * well start after the agent (boot order), so not being ready in time is a warning, not a
   * failure, and probing goes on.
   */
  private watchExternalApp(workload: WorkloadConfig): void {
    this.log.info({ probe: this.readiness.describe() }, 'app run by something else: probing it');
    this.externalTimer = this.ctx.clock.setTimeout(() => {
      this.externalTimer = null;
      if (this.state !== 'ready' && !this.stopping) {
        this.log.warn({ probe: this.readiness.describe() }, `${this.label} (run by something else) is not ready after ${workload.readiness.startTimeoutMs / 1000}s; still probing`);
      }
    }, workload.readiness.startTimeoutMs);
    void this.probeLoop();
  }

  private failStart(err: Error): void {
    const w = this.startWaiter;
    this.startWaiter = null;
    w?.reject(err);
  }

  // ---- proxy ----

  private async startProxy(initial: boolean): Promise<void> {
    const deadline = this.ctx.clock.now() + this.ctx.proxyReadyTimeoutMs;
    const token = await this.issueToken(initial ? deadline : null);
    const file = this.bootstrapPath;
    // A new admin token per proxy start, only in this 0600 file (the proxy's POST /drain wants it).
    const bootstrap = buildBootstrap({ mesh: this.ctx.mesh, spec: this.spec, replica: this.replica, ports: this.ports, token, adminToken: newAdminToken(), accessLogFile: this.logPath('access'), logLevel: this.ctx.logLevel });
    await writeFile(file, JSON.stringify(bootstrap, null, 2), { mode: 0o600 });
    // stop() may have run while we waited; nothing may start after it.
    if (this.stopping) throw new TrellisError('TRELLIS_E_TIMEOUT', `${this.label}: stopped while starting`);
    const argv = this.ctx.proxyCommand(file);
    const child = Child.spawn({ argv, cwd: this.ctx.stateDir, env: stringEnv(this.ctx.baseEnv), logFile: this.logPath('proxy'), stdinPipe: true });
    if (child.pid !== null) this.ctx.pids.add({ pid: child.pid, kind: 'proxy', name: this.nodeId, argv });
    this.proxy = child;
    this.ctx.onChange();
    const exitedEarly = child.exited.then((e) => e);
    for (;;) {
      const ok = await Promise.race([httpProbe(`${this.adminUrl}/ready`, 1000), exitedEarly.then(() => 'exited' as const)]);
      if (ok === true) break;
      if (ok === 'exited' || !child.running) {
        const info = child.exit as ExitInfo;
        if (child.pid !== null) this.ctx.pids.remove(child.pid);
        throw new TrellisError('TRELLIS_E_WORKLOAD_EXITED', `proxy of ${this.label} exited during start (${describeExit(info)})${await this.tail('proxy')}`);
      }
      if (this.stopping) throw new TrellisError('TRELLIS_E_TIMEOUT', `${this.label}: stopped while starting`);
      if (this.ctx.clock.now() > deadline) {
        await child.terminate(1000, true);
        throw new TrellisError('TRELLIS_E_TIMEOUT', `proxy of ${this.label} was not ready within ${this.ctx.proxyReadyTimeoutMs / 1000}s (${this.adminUrl}/ready)${await this.tail('proxy')}`);
      }
      await this.ctx.clock.sleep(100, this.abort.signal);
    }
    this.log.info({ pid: child.pid, admin: this.adminUrl }, 'proxy ready');
    this.proxyServing = true;
    void child.exited.then((info) => this.onProxyExit(child, info));
    if (!this.watchingProxy) {
      this.watchingProxy = true;
      void watchProxy({
        clock: this.ctx.clock,
        periodMs: this.ctx.proxyProbePeriodMs,
        signal: this.abort.signal,
        readyUrl: `${this.adminUrl}/ready`,
        serving: () => (this.proxyServing && this.proxy?.running === true && !this.stopping ? this.proxy : null),
        recycle: (proxy, why) => this.recycleProxy(proxy, why),
      });
    }
  }

  /**
   * A proxy found draining or failing (proxy-watch.ts): out of load balancing now (reported
   * unhealthy, so callers stop picking it), then SIGTERM (it finishes its drain, bounded by
   * drainTimeout, and exits); onProxyExit restarts it. Its app keeps running throughout.
   */
  private async recycleProxy(child: Child, why: ProxyReadiness): Promise<void> {
    this.proxyServing = false;
    const detail = why.state === 'not-ready' || why.state === 'unreachable' ? why.reason : why.state;
    this.log.warn(
      { proxy: detail, pid: child.pid },
      why.state === 'draining' ? 'proxy is draining: out of load balancing, restarting it once drained' : 'proxy not ready: out of load balancing, restarting it',
    );
    if (this.state === 'ready') this.setState('unhealthy');
    await child.terminate(this.ctx.mesh.drainTimeoutMs + 5000, true);
  }

  private async issueToken(deadline: number | null): Promise<TokenResponse> {
    const backoff = new Backoff({ initialMs: 200, maxMs: 5000 });
    for (;;) {
      try {
        return await this.ctx.client.issueToken(this.ctx.agentId, this.nodeId, this.identity);
      } catch (err) {
        const retriable = err instanceof TrellisError && err.code === 'TRELLIS_E_CONTROL_PLANE_UNREACHABLE';
        if (!retriable || this.stopping || (deadline !== null && this.ctx.clock.now() > deadline)) throw err;
        await this.ctx.clock.sleep(backoff.next(), this.abort.signal);
      }
    }
  }

  private onProxyExit(child: Child, info: ExitInfo): void {
    if (child.pid !== null) this.ctx.pids.remove(child.pid);
    if (this.stopping || this.proxy !== child) return;
    this.proxyServing = false;
    this.log.warn({ exit: describeExit(info), log: this.logPath('proxy') }, 'proxy exited; restarting it');
    if (this.state === 'ready') this.setState('unhealthy');
    this.ctx.onChange();
    void this.restartProxy();
  }

  private async restartProxy(): Promise<void> {
    while (!this.stopping) {
      await this.ctx.clock.sleep(this.proxyBackoff.next(), this.abort.signal);
      if (this.stopping) return;
      try {
        await this.startProxy(false);
        this.proxyBackoff.reset();
        if (this.spec.kind === 'ingress') this.setState('ready');
        return;
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'proxy restart failed; trying again');
      }
    }
  }

  // ---- app ----

  /** The user the app runs as, decided once per replica (the program and folder do not change). */
  private async decideUser(w: WorkloadConfig): Promise<RunAs | null> {
    if (w.command === null) return null;
    const envInput = { base: this.ctx.baseEnv, workload: w, replica: this.replica, identity: this.identity, appPorts: this.ports.app, outbound: this.ports.outbound };
    const [program] = expandCommand(w.command, meshVariables(envInput)) as [string, ...string[]];
    const resolved = resolveCommand(program, this.ctx.mesh.dir, this.ctx.baseEnv.PATH);
    // A program that cannot be found fails in startApp with its own message.
    if (resolved === null) return null;
    const decision = await this.ctx.appUsers.decide({ workload: w.name, user: w.user, group: w.group, cwd: this.ctx.mesh.dir, program: resolved });
    if (decision.warning !== null) this.ctx.warnApp(decision.warning);
    return decision.runAs;
  }

  private startApp(): void {
    const w = (this.spec as { workload: WorkloadConfig }).workload;
    if (this.stopping) throw new TrellisError('TRELLIS_E_TIMEOUT', `${this.label}: stopped while starting`);
    if (w.command === null) throw new Error(`${this.label}: its app is run by something else`);
    const egress = this.ctx.mesh.outbound.ports.flatMap((e, i) => {
      const listen = this.ports.egress?.[i];
      return listen === undefined ? [] : [{ env: e.env, listen }];
    });
    const envInput = { base: this.ctx.baseEnv, workload: w, replica: this.replica, identity: this.identity, appPorts: this.ports.app, outbound: this.ports.outbound, egress };
    const command = w.command;
    const [program, ...args] = expandCommand(command, meshVariables(envInput)) as [string, ...string[]];
    const resolved = resolveCommand(program, this.ctx.mesh.dir, this.ctx.baseEnv.PATH);
    if (resolved === null) {
      throw new TrellisError('TRELLIS_E_COMMAND_NOT_FOUND', `workload ${w.name}: command not found: ${program} (command: ${command.join(' ')}; run in ${this.ctx.mesh.dir})`);
    }
    const env = buildAppEnv(envInput);
    const procs = this.ctx.appCgroupProcs?.() ?? null;
    const argv = procs !== null ? confinedArgv([resolved, ...args]) : [resolved, ...args];
    // Confined: the shell waits on stdin until the agent has put it in the cgroup (admitToCgroup).
    const child = Child.spawn({ argv, cwd: this.ctx.mesh.dir, env, logFile: this.logPath('app'), stdinPipe: procs !== null, runAs: this.runAs });
    if (procs !== null) admitToCgroup(child.proc, procs, (err) => this.log.error({ err: err.message, cgroupProcs: procs }, 'app not started: it could not be put in the egress cgroup'));
    if (child.pid !== null) this.ctx.pids.add({ pid: child.pid, kind: 'app', name: this.nodeId, argv });
    this.app = child;
    this.appStartedAt = this.ctx.clock.now();
    this.probeFailures = 0;
    this.log.info({ pid: child.pid, command: argv, user: this.runAs?.name ?? null }, 'app started');
    this.ctx.onChange();
    void child.exited.then((info) => this.onAppExit(child, info));
  }

  private async onAppExit(child: Child, info: ExitInfo): Promise<void> {
    if (child.pid !== null) this.ctx.pids.remove(child.pid);
    this.lastExit = { code: info.code, signal: info.signal, at: new Date(this.ctx.clock.now()).toISOString() };
    if (this.stopping || this.app !== child) return;
    const w = (this.spec as { workload: WorkloadConfig }).workload;
    if (this.startWaiter !== null) {
      const how = info.error?.code === 'ENOENT' ? `command not found: ${w.command?.[0] ?? ''}` : describeExit(info);
      const code = info.error?.code === 'ENOENT' ? 'TRELLIS_E_COMMAND_NOT_FOUND' : 'TRELLIS_E_WORKLOAD_EXITED';
      this.failStart(new TrellisError(code, `workload ${w.name} (replica ${this.replica}) exited during start: ${how}${await this.tail('app')}`));
      return;
    }
    const ranMs = this.ctx.clock.now() - this.appStartedAt;
    if (ranMs >= this.ctx.healthyResetMs) this.appBackoff.reset();
    const delay = this.appBackoff.next();
    this.restarts += 1;
    this.log.warn({ exit: describeExit(info), restartInMs: delay, log: this.logPath('app') }, 'app exited; restarting');
    this.setState('crashed');
    this.ctx.onChange();
    await this.ctx.clock.sleep(delay, this.abort.signal);
    if (this.stopping) return;
    try {
      this.setState('starting');
      this.startApp();
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'app restart failed');
      this.setState('crashed');
      void this.onAppExit(child, info);
    }
  }

  /**
   * Readiness: fast polling while starting, every periodMs afterwards. An app run by something
   * else (no `command`) is probed whether or not it seems to run: we hold no process of it.
   */
  private async probeLoop(): Promise<void> {
    const w = (this.spec as { workload: WorkloadConfig }).workload;
    const r = w.readiness;
    const external = w.command === null;
    while (!this.stopping) {
      const app = this.app;
      if (external || app?.running === true) {
        const ok = await this.readiness.run();
        if (this.stopping || (!external && (this.app !== app || app?.running !== true))) continue;
        const proxyUp = this.proxy?.running === true && this.proxyServing;
        if (ok) {
          this.probeFailures = 0;
          if ((this.state === 'starting' || this.state === 'unhealthy') && proxyUp) {
            this.setState('ready');
            if (this.startWaiter !== null) {
              const w = this.startWaiter;
              this.startWaiter = null;
              w.resolve();
            }
          }
        } else if (this.state === 'ready' && ++this.probeFailures >= r.failureThreshold) {
          this.log.warn({ probe: this.readiness.describe() }, 'readiness probe failing; endpoint taken out of load balancing');
          this.setState('unhealthy');
        }
      }
      const fast = this.state === 'starting' && (!external || this.externalTimer !== null);
      await this.ctx.clock.sleep(fast ? Math.min(100, r.periodMs) : r.periodMs, this.abort.signal);
    }
  }

  /** The log's error message (when the last lines do not show it) and its last lines, for a failed start. */
  private async tail(kind: 'app' | 'proxy'): Promise<string> {
    return describeLog(this.logPath(kind), await tailFile(this.logPath(kind), LOG_LINES_SCANNED));
  }

  // ---- stop ----

  /** Takes the replica out of load balancing (reported as 'stopping'); stops restarts and probes. */
  markStopping(): void {
    this.stopping = true;
    this.abort.abort();
    this.externalTimer?.cancel();
    this.externalTimer = null;
    this.failStart(new TrellisError('TRELLIS_E_TIMEOUT', `${this.label}: stopped while starting`));
    this.state = 'stopping';
  }

  /** SIGTERM to the proxy (it drains), wait for it. */
  async stopProxy(): Promise<void> {
    const p = this.proxy;
    if (p === null) return;
    await p.terminate(this.ctx.mesh.drainTimeoutMs + 5000, true);
    if (p.pid !== null) this.ctx.pids.remove(p.pid);
    // It holds a one-time token; no use once the proxy is gone.
    await rm(this.bootstrapPath, { force: true });
  }

  /** SIGTERM to the app's process group, SIGKILL after the stop timeout. */
  async stopApp(): Promise<void> {
    const a = this.app;
    if (a !== null) {
      await a.terminate(this.ctx.stopTimeoutMs, true);
      if (a.pid !== null) this.ctx.pids.remove(a.pid);
    }
    this.state = 'stopped';
  }

  /** Last resort: SIGKILL everything now. */
  kill(): void {
    this.stopping = true;
    this.abort.abort();
    this.externalTimer?.cancel();
    this.externalTimer = null;
    this.proxy?.signal('SIGKILL', true);
    this.app?.signal('SIGKILL', true);
  }
}

function stringEnv(base: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) out[k] = v;
  return out;
}
