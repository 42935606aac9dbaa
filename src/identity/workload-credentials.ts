import { EventEmitter } from 'node:events';
import type { TlsCredentials } from './tls.js';

/** What a workload holds: its key (never sent anywhere), its chain and the chain's facts. */
export interface WorkloadCredentialSet extends TlsCredentials {
  notAfter: Date;
  serial: string;
}

export interface WorkloadCredentialsOptions {
  /** Random in [0, 1) for jitter; injected so tests are deterministic. */
  random?: () => number;
  /** Jitter as a fraction of the half lifetime, both directions (default 0.1). */
  jitter?: number;
}

export interface WorkloadCredentialsEvents {
  rotated: [creds: WorkloadCredentialSet, trustBundlePem: string[]];
}

/**
 * The current credentials of one workload and its trust bundle. The proxy's control client
 * fetches new ones and calls update(); listeners (inbound servers, pools) react to 'rotated'.
 */
export class WorkloadCredentials extends EventEmitter<WorkloadCredentialsEvents> {
  private creds: WorkloadCredentialSet | null = null;
  private bundle: string[] = [];
  private readonly random: () => number;
  private readonly jitter: number;

  constructor(opts: WorkloadCredentialsOptions = {}) {
    super();
    this.random = opts.random ?? Math.random;
    this.jitter = opts.jitter ?? 0.1;
  }

  /** Current credentials, or null before the first certificate. */
  get current(): WorkloadCredentialSet | null {
    return this.creds;
  }

  get trustBundlePem(): string[] {
    return this.bundle;
  }

  /** Replaces the credentials (and bundle); emits 'rotated'. */
  update(creds: WorkloadCredentialSet, trustBundlePem: string[]): void {
    this.creds = creds;
    this.bundle = trustBundlePem;
    this.emit('rotated', creds, trustBundlePem);
  }

  /** Replaces only the trust bundle (the CA rotated); emits 'rotated' when credentials exist. */
  updateTrustBundle(trustBundlePem: string[]): void {
    this.bundle = trustBundlePem;
    if (this.creds !== null) this.emit('rotated', this.creds, trustBundlePem);
  }

  /** True when the certificate has expired at `now`. */
  expired(now: number): boolean {
    return this.creds === null || this.creds.notAfter.getTime() <= now;
  }

  /**
   * Milliseconds from `now` until the next rotation: half of the remaining lifetime,
   * spread by +/- jitter so a fleet does not rotate in one burst. 0 without credentials.
   */
  rotationDelayMs(now: number): number {
    if (this.creds === null) return 0;
    const remaining = this.creds.notAfter.getTime() - now;
    if (remaining <= 0) return 0;
    const half = remaining / 2;
    const spread = half * this.jitter * (this.random() * 2 - 1);
    return Math.max(0, Math.round(half + spread));
  }
}
