import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { AppPortLockReport } from '../../api/registry.js';
import type { Clock } from '../../util/clock.js';
import { appExposures, type Exposure } from './exposure.js';
import { processChildren } from './pid-tree.js';
import { AppPortLock, commandRunner, lockAvailability, lockTableName, type NftRunner } from './nft-lock.js';

/** How often the agent looks for apps listening beyond loopback. */
export const EXPOSURE_SCAN_MS = 2000;

/** One app the agent runs, as the watch sees it. */
export interface WatchedApp {
  /** The running app's pid, null while it is not running. */
  appPid(): number | null;
  /** Stores what the last scan found; true when it differs from before. */
  setExposed(found: Exposure[]): boolean;
}

export interface ExposureWatchOptions {
  apps: () => readonly WatchedApp[];
  /** `spec.mtls.lockAppPorts` */
  lockRequested: boolean;
  /** The app ports the agent handed out: locked before the apps start, whatever they bind. */
  appPorts: readonly number[];
  stateDir: string;
  clock: Clock;
  logger: Logger;
  /** A scan found a change (report it). */
  onChange(): void;
  intervalMs?: number;
  /** Default: the real /proc. */
  scan?: (pid: number) => Promise<Exposure[]>;
  /** Default: `nft` on this host. */
  nft?: NftRunner;
  platform?: string;
  uid?: number | null;
}

/**
 * The plaintext bypass, watched for the agent's life (docs/security.md): every `intervalMs`
 * each running app's process tree is matched against the LISTEN sockets in /proc; a change is
 * reported. With `lockAppPorts`, the agent's nftables table keeps dropping, from anywhere but
 * loopback, the ports it handed out and every port an app was found listening on beyond
 * loopback; stop() removes the table. Where the host cannot (not Linux, not root, no nft), the
 * report says why, so `trellis check` can.
 */
export class ExposureWatch {
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  private lock: AppPortLock | null = null;
  private unavailable: string | undefined;
  private availabilityKnown = false;
  private readonly nft: NftRunner;

  constructor(private readonly o: ExposureWatchOptions) {
    this.nft = o.nft ?? commandRunner();
  }

  /**
   * Without lockAppPorts, a table this state directory's agent left behind (it died, or the
   * mesh file asked for the lock last time) must not keep dropping ports: removed, best effort,
   * where nft can run at all (Linux, root); nothing is reported either way.
   */
  private async removeLeftover(): Promise<void> {
    const uid = this.o.uid !== undefined ? this.o.uid : (process.getuid?.() ?? null);
    if ((this.o.platform ?? process.platform) !== 'linux' || uid !== 0) return;
    try {
      await new AppPortLock(lockTableName(resolve(this.o.stateDir)), this.nft).remove();
    } catch {
      // no nft, or no table: nothing to remove
    }
  }

  /** With lockAppPorts: installs the rules for the handed-out ports (before apps start), else notes why not. */
  async prepare(): Promise<void> {
    if (!this.o.lockRequested) {
      await this.removeLeftover();
      return;
    }
    await this.learnAvailability();
    if (this.unavailable !== undefined) {
      this.o.logger.warn({ reason: this.unavailable }, 'spec.mtls.lockAppPorts: cannot close app ports with nftables on this host');
      return;
    }
    this.lock = new AppPortLock(lockTableName(resolve(this.o.stateDir)), this.nft);
    await this.applyLock([]);
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** For the agent's report. */
  report(): AppPortLockReport {
    return {
      requested: this.o.lockRequested,
      lockedPorts: [...(this.lock?.lockedPorts ?? [])],
      ...(this.unavailable !== undefined ? { unavailable: this.unavailable } : {}),
    };
  }

  /** One pass over every app (the loop's body; tests call it directly). */
  async scanOnce(): Promise<void> {
    let children: Map<number, number[]> | null = null;
    // One read of the process table per pass, shared by every app.
    const scan = this.o.scan ?? (async (pid: number) => appExposures(pid, '/proc', (children ??= await processChildren())));
    let changed = false;
    const exposedPorts: number[] = [];
    for (const app of this.o.apps()) {
      const pid = app.appPid();
      const found = pid === null ? [] : await scan(pid);
      exposedPorts.push(...found.map((e) => e.port));
      if (app.setExposed(found)) {
        changed = true;
        for (const e of found) this.o.logger.warn({ address: e.address }, 'an app listens beyond loopback: it can be reached without mTLS (see trellis check)');
      }
    }
    if (exposedPorts.length > 0 && !this.o.lockRequested && !this.availabilityKnown) {
      await this.learnAvailability();
      changed = true;
    }
    if (this.lock !== null && (await this.applyLock(exposedPorts))) changed = true;
    if (changed) this.o.onChange();
  }

  /** Stops scanning and removes the rules (the agent is stopping; its apps are gone). */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    if (this.lock === null) return;
    try {
      await this.lock.remove();
    } catch (err) {
      this.o.logger.warn({ err: (err as Error).message, table: this.lock.table }, 'could not remove the app-port nftables table');
    }
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted) {
      try {
        await this.scanOnce();
      } catch (err) {
        this.o.logger.debug({ err: (err as Error).message }, 'exposure scan failed');
      }
      await this.o.clock.sleep(this.o.intervalMs ?? EXPOSURE_SCAN_MS, this.abort.signal);
    }
  }

  /** True when the locked ports changed. */
  private async applyLock(exposedPorts: readonly number[]): Promise<boolean> {
    const lock = this.lock as AppPortLock;
    const before = lock.lockedPorts.join(',');
    try {
      await lock.apply([...this.o.appPorts, ...exposedPorts]);
      this.unavailable = undefined;
    } catch (err) {
      this.unavailable = (err as Error).message;
      this.o.logger.warn({ err: this.unavailable }, 'spec.mtls.lockAppPorts: nft refused the rules');
    }
    return lock.lockedPorts.join(',') !== before;
  }

  private async learnAvailability(): Promise<void> {
    const a = await lockAvailability(this.nft, this.o.platform ?? process.platform, this.o.uid !== undefined ? this.o.uid : (process.getuid?.() ?? null));
    this.availabilityKnown = true;
    this.unavailable = a.ok ? undefined : a.reason;
  }
}
