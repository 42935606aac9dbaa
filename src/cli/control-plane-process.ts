import { readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { HostPort } from '../api/common.js';
import type { ControlPlaneOptions } from '../control/control-plane.js';
import { describeLog, LOG_LINES_SCANNED } from '../agent/log-excerpt.js';
import { Child, describeExit, tailFile } from '../agent/process.js';
import { looksLike, readCmdline } from '../agent/pids.js';
import { httpProbe } from '../agent/probe.js';
import { TrellisError } from '../errors.js';
import { Backoff, RESTART_BACKOFF } from '../util/backoff.js';
import { formatDuration } from '../util/duration.js';
import { formatHostPort } from '../util/hostport.js';
import { cliEntry } from '../util/paths.js';
import { controlPlaneTlsOptions } from '../identity/control-plane-tls.js';
import { Agent, type Dispatcher } from 'undici';

/** `<stateDir>/control-plane.json`, written by the control plane on start. */
export interface ControlPlaneInfo {
  pid: number;
  apiUrl: string;
  pushUrl: string;
  trustDomain: string;
}

/** The control plane's own options (what `trellis control-plane` takes), plus how to watch the child. */
export interface ControlPlaneProcessOptions extends Pick<ControlPlaneOptions, 'stateDir' | 'api' | 'push' | 'trustDomain' | 'certTtlMs' | 'logLevel' | 'tracing' | 'defaultAction'> {
  logger: Logger;
  startTimeoutMs?: number;
}

export function controlPlaneInfoPath(stateDir: string): string {
  return join(stateDir, 'control-plane.json');
}

async function readInfo(stateDir: string): Promise<ControlPlaneInfo | null> {
  try {
    return JSON.parse(await readFile(controlPlaneInfoPath(stateDir), 'utf8')) as ControlPlaneInfo;
  } catch {
    return null;
  }
}

function hostPortOf(url: string): HostPort {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) };
}

/**
 * The control plane as a child of `trellis up`: started, watched, restarted if it dies
 * (its state lives in the state directory; it comes back on the same ports), stopped.
 */
export class ControlPlaneProcess {
  private child: Child | null = null;
  private stopping = false;
  private api: HostPort;
  private push: HostPort;
  private readonly backoff = new Backoff(RESTART_BACKOFF);
  private readonly logFile: string;
  info: ControlPlaneInfo | null = null;
  private tlsProbe: Agent | undefined;

  constructor(private readonly opts: ControlPlaneProcessOptions) {
    this.api = opts.api;
    this.push = opts.push;
    this.logFile = join(opts.stateDir, 'logs', 'control-plane.log');
  }

  /** Kills a control plane left running by a previous `up` on this state directory that died. */
  static async killStale(stateDir: string, logger: Logger): Promise<void> {
    const info = await readInfo(stateDir);
    if (info === null || info.pid === process.pid) return;
    if (looksLike(info.pid, ['control-plane', '--state-dir', stateDir])) {
      const parent = parentPid(info.pid);
      const parentArgv = parent !== null && parent !== 1 ? readCmdline(parent) : null;
      if (parentArgv !== null && parentArgv.includes('up') && parentArgv.some((a) => a.endsWith('main.js'))) {
        throw new TrellisError('TRELLIS_E_PORT_IN_USE', `state directory ${stateDir} is in use by a running \`trellis up\` (pid ${parent}); stop it first or use another --state-dir`);
      }
      logger.warn({ pid: info.pid }, 'killing a control plane left over from a previous run');
      try {
        process.kill(info.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }

  async start(): Promise<ControlPlaneInfo> {
    const o = this.opts;
    // A stale file from an earlier run must not be mistaken for this one (the pid check
    // below also guards); on a restart the old file stays so `trellis get` finds the same URL.
    if (this.info === null) await rm(controlPlaneInfoPath(o.stateDir), { force: true });
    const argv = [
      process.execPath, cliEntry, 'control-plane',
      '--state-dir', o.stateDir,
      '--api', formatHostPort(this.api),
      '--push', formatHostPort(this.push),
      '--trust-domain', o.trustDomain,
      '--cert-ttl', formatDuration(o.certTtlMs),
      '--log-level', o.logLevel,
      ...tracingFlags(o.tracing),
      ...(o.defaultAction !== undefined ? ['--default-action', o.defaultAction] : []),
      '--exit-on-stdin-close',
    ];
    const child = Child.spawn({ argv, cwd: o.stateDir, env: stringEnv(process.env), logFile: this.logFile, stdinPipe: true });
    this.child = child;
    const deadline = Date.now() + (o.startTimeoutMs ?? 30_000);
    for (;;) {
      if (!child.running) {
        throw new TrellisError(
          'TRELLIS_E_WORKLOAD_EXITED',
          `control plane exited during start (${describeExit(child.exit ?? { code: null, signal: null, error: null })})${describeLog(this.logFile, await tailFile(this.logFile, LOG_LINES_SCANNED))}`,
        );
      }
      const info = await readInfo(o.stateDir);
      if (info !== null && info.pid === child.pid && (await httpProbe(`${info.apiUrl}/healthz`, 1000, await this.probeDispatcher(info.apiUrl)))) {
        this.info = info;
        // A restart must come back where agents and proxies look for it.
        this.api = hostPortOf(info.apiUrl);
        this.push = hostPortOf(info.pushUrl);
        break;
      }
      if (Date.now() > deadline) {
        await child.terminate(1000, true);
        throw new TrellisError('TRELLIS_E_TIMEOUT', `control plane did not become healthy within ${(o.startTimeoutMs ?? 30_000) / 1000}s; see ${this.logFile}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const started = Date.now();
    void child.exited.then((exit) => {
      if (this.stopping || this.child !== child) return;
      if (Date.now() - started > 60_000) this.backoff.reset();
      const delay = this.backoff.next();
      o.logger.warn({ exit: describeExit(exit), restartInMs: delay, log: this.logFile }, 'control plane exited; restarting it (workloads keep running)');
      setTimeout(() => void this.restart(), delay);
    });
    return this.info as ControlPlaneInfo;
  }

  /** Off loopback the API is HTTPS with a certificate from the mesh CA (in the state directory by now). */
  private async probeDispatcher(apiUrl: string): Promise<Dispatcher | undefined> {
    if (!apiUrl.startsWith('https:')) return undefined;
    this.tlsProbe ??= new Agent({ connect: controlPlaneTlsOptions([await readFile(join(this.opts.stateDir, 'ca', 'root.crt'), 'utf8')]) });
    return this.tlsProbe;
  }

  private async restart(): Promise<void> {
    if (this.stopping) return;
    try {
      await this.start();
      this.opts.logger.info({ api: this.info?.apiUrl }, 'control plane restarted');
    } catch (err) {
      const delay = this.backoff.next();
      this.opts.logger.warn({ err: (err as Error).message, retryInMs: delay }, 'control plane restart failed');
      setTimeout(() => void this.restart(), delay);
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.child?.terminate(10_000, true);
    await this.tlsProbe?.close();
  }

  kill(): void {
    this.stopping = true;
    this.child?.signal('SIGKILL', true);
  }
}

/** The mesh file's `spec.tracing` as `trellis control-plane` flags (absent: its defaults). */
export function tracingFlags(t: ControlPlaneOptions['tracing']): string[] {
  if (t === undefined) return [];
  if (t === null) return ['--no-tracing'];
  return t.collector === null ? ['--trace-sampling', String(t.samplingRatio)] : ['--trace-sampling', String(t.samplingRatio), '--trace-collector', t.collector];
}

function stringEnv(base: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) out[k] = v;
  return out;
}

/** PPid from /proc/<pid>/status, or null. */
function parentPid(pid: number): number | null {
  try {
    const m = /^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}
