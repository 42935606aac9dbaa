import type { Logger } from 'pino';
import type { ProxyBootstrap } from '../../api/bootstrap.js';
import type { WorkloadCredentials } from '../../identity/workload-credentials.js';
import { Backoff } from './backoff.js';
import type { IssuedCredentials } from './certificates.js';
import { requestCertificate } from './certificates.js';

export interface RotatorOptions {
  bootstrap: ProxyBootstrap;
  credentials: WorkloadCredentials;
  logger: Logger;
  /** Wall clock (certificate times are wall-clock). */
  now?: () => number;
  random?: () => number;
  /** Replaceable for tests; defaults to requestCertificate over mTLS. */
  fetch?: () => Promise<IssuedCredentials>;
}

/**
 * Renews the workload certificate at credentials.rotationDelayMs (about half its life):
 * new key + CSR, POST rotate over mTLS with the current certificate, then update() swaps
 * credentials (servers get setSecureContext, new upstream connections use the new cert,
 * existing connections carry on). A failed attempt is retried with backoff.
 */
export class CertificateRotator {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly backoff: Backoff;
  private readonly now: () => number;

  constructor(private readonly o: RotatorOptions) {
    this.now = o.now ?? Date.now;
    this.backoff = new Backoff(o.random ?? Math.random, 500, 30_000);
  }

  start(): void {
    this.schedule(this.o.credentials.rotationDelayMs(this.now()));
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.rotate(), Math.min(ms, 2 ** 31 - 1));
    this.timer.unref();
  }

  /** Rotates now (also used by tests). */
  async rotate(): Promise<void> {
    const { credentials, bootstrap, logger } = this.o;
    try {
      const issued = this.o.fetch
        ? await this.o.fetch()
        : await requestCertificate(
            bootstrap,
            credentials.current,
            credentials.trustBundlePem.length > 0 ? credentials.trustBundlePem : bootstrap.controlPlane.trustBundlePem,
          );
      if (this.stopped) return;
      credentials.update(issued.creds, issued.trustBundlePem);
      this.backoff.reset();
      logger.info({ serial: issued.creds.serial, notAfter: issued.creds.notAfter.toISOString() }, 'certificate rotated');
      this.schedule(credentials.rotationDelayMs(this.now()));
    } catch (err) {
      const delay = this.backoff.next();
      logger.warn({ err: (err as Error).message, retryInMs: delay }, 'certificate rotation failed; will retry');
      this.schedule(delay);
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
  }
}
