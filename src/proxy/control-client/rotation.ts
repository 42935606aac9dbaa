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

/** Retry delays after a failed rotation: 200 ms doubling to 5 s, jittered. */
const RETRY_BASE_MS = 200;
const RETRY_MAX_MS = 5_000;
/** The soonest retry while the certificate is still valid. */
const MIN_RETRY_MS = 50;

/**
 * Renews the workload certificate at credentials.rotationDelayMs (about half its life):
 * new key + CSR, POST rotate over mTLS with the current certificate, then update() swaps
 * credentials (servers get setSecureContext, new upstream connections use the new cert,
 * existing connections carry on). A failed attempt is retried with backoff, never later than
 * half the time the certificate has left, so a short-lived one gets several tries before it
 * expires. Once expired, the same call presents the expired certificate: the control plane
 * renews it within its grace period (src/control/push/renewal.ts).
 */
export class CertificateRotator {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly backoff: Backoff;
  private readonly now: () => number;

  constructor(private readonly o: RotatorOptions) {
    this.now = o.now ?? Date.now;
    this.backoff = new Backoff(o.random ?? Math.random, RETRY_BASE_MS, RETRY_MAX_MS);
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
      const delay = this.retryDelayMs();
      const expired = credentials.expired(this.now());
      logger.warn({ err: (err as Error).message, retryInMs: delay, expired }, 'certificate rotation failed; will retry');
      this.schedule(delay);
    }
  }

  /** Next backoff step, capped at half the certificate's remaining life while it has one. */
  retryDelayMs(): number {
    const delay = this.backoff.next();
    const c = this.o.credentials.current;
    const left = c === null ? 0 : c.notAfter.getTime() - this.now();
    return left > 0 ? Math.min(delay, Math.max(MIN_RETRY_MS, Math.floor(left / 2))) : delay;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
  }
}
