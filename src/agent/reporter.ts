import type { Logger } from 'pino';
import type { AgentReport } from '../api/registry.js';
import { Backoff } from '../util/backoff.js';
import type { Clock } from '../util/clock.js';
import type { RegistryClient } from './client.js';

/**
 * Sends the agent's full report on every change and every `intervalMs` (the lease is longer).
 * While the control plane is down it keeps retrying with backoff, logging once when it goes
 * away and once when it is back; workloads are not affected.
 */
export class Reporter {
  private dirty = true;
  private running = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private readonly backoff = new Backoff({ initialMs: 500, maxMs: 5000 });
  private down = false;
  private abort = new AbortController();

  constructor(
    private readonly client: RegistryClient,
    private readonly build: () => AgentReport,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly intervalMs = 5000,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    this.loop = this.run();
  }

  /** Something changed: send soon. */
  notify(): void {
    this.dirty = true;
    this.wake?.();
  }

  /** Sends the current report now; false if the control plane did not take it. */
  async sendNow(): Promise<boolean> {
    try {
      await this.client.putReport(this.build());
      this.markUp();
      return true;
    } catch (err) {
      this.markDown(err);
      return false;
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      this.dirty = false;
      const ok = await this.sendNow();
      if (!this.running) break;
      const wait = ok ? this.intervalMs : this.backoff.next();
      if (ok) this.backoff.reset();
      if (!ok || !this.dirty) await this.sleep(wait, ok);
    }
  }

  /** Sleeps until the interval passes, or (after a success) until notify(); stop() always wakes it. */
  private sleep(ms: number, wakeOnChange: boolean): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: { cancel(): void } | null = null;
      const done = (): void => {
        timer?.cancel();
        this.wake = null;
        resolve();
      };
      timer = this.clock.setTimeout(done, ms);
      this.wake = wakeOnChange
        ? done
        : () => {
            if (!this.running) done();
          };
    });
  }

  private markDown(err: unknown): void {
    if (!this.down) {
      this.down = true;
      this.logger.warn({ err: (err as Error).message }, 'cannot report to the control plane; retrying in the background (workloads keep running)');
    } else {
      this.logger.debug({ err: (err as Error).message }, 'report failed');
    }
  }

  private markUp(): void {
    if (this.down) {
      this.down = false;
      this.logger.info('control plane reachable again; report sent');
    }
  }
}
