import type { Etcd3 } from 'etcd3';
import type { LeaseRenewer } from './lease-renewer.js';
import { grantLease, revokeLease } from './leases.js';

export interface ReplicaPresenceDeps {
  client: Etcd3;
  renewer: LeaseRenewer;
  key: string;
  value: string;
  ttlSeconds: number;
  /** Resolves once this replica's own watch has brought a write back (EtcdCache.reached). */
  reached: (revision: number) => Promise<void>;
  log: (msg: string, err?: Error) => void;
}

/**
 * This replica's presence key (the replica list other replicas hand to proxies and joining
 * hosts), on a lease renewed through the LeaseRenewer every third of its TTL. etcd3's own Lease
 * object keeps one keepalive stream on a member picked at random and notices a silent one only
 * after a whole TTL, by when the lease has ended: a replica whose stream sat on a cut-off
 * member dropped out of every list while it was up. When the lease is gone anyway (etcd was
 * away longer than the TTL) the key is put again on a new one.
 */
export class ReplicaPresence {
  private lease: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly d: ReplicaPresenceDeps) {}

  /** Puts the key on a new lease and starts renewing it. Rejects when etcd does not take it. */
  async start(): Promise<void> {
    await this.announce();
    this.schedule();
  }

  /** Stops renewing and revokes the lease (the key goes at once). Best effort. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const lease = this.lease;
    this.lease = null;
    if (lease !== null) await revokeLease(this.d.client, lease).catch(() => undefined);
  }

  private async announce(): Promise<void> {
    const lease = await grantLease(this.d.client, this.d.ttlSeconds);
    const res = await this.d.client.put(this.d.key).value(this.d.value).lease(lease).exec();
    // Stopped meanwhile: nobody will renew this one, so it goes now.
    if (this.stopped) return void (await revokeLease(this.d.client, lease).catch(() => undefined));
    const old = this.lease;
    this.lease = lease;
    if (old !== null && old !== lease) void revokeLease(this.d.client, old).catch(() => undefined);
    await this.d.reached(Number(res.header.revision));
  }

  /** The next renewal a third of the TTL after the last one ended (renewals never overlap). */
  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.renew(), (this.d.ttlSeconds * 1000) / 3);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    try {
      const lease = this.lease;
      const alive = lease !== null && (await this.d.renewer.renew(lease));
      if (!alive && !this.stopped) {
        this.d.log('replica presence lease lost; announcing again');
        await this.announce();
      }
    } catch (err) {
      // etcd unreachable: the next turn tries again (and announces anew if the lease ran out).
      this.d.log('renewing the replica presence lease failed; trying again', err as Error);
    } finally {
      this.schedule();
    }
  }
}
