import type { Campaign, Election } from 'etcd3';

/**
 * This replica's candidacy in an etcd election (etcd3's Election: the lowest create revision
 * under the election prefix leads; the key lives on a lease of `ttl` seconds, so a replica
 * that dies loses the lead within that time). isLeader() is true while elected. After an
 * error (the campaign's lease was lost, etcd was away) it campaigns again a second later.
 *
 * Work done under it must tolerate a short overlap: a leader cut off from etcd learns it lost
 * the lease only when its keepalives fail, possibly after another replica was elected. The
 * jobs run under it (token and snapshot-version garbage collection) are idempotent.
 */
export class Leadership {
  private campaign: Campaign | null = null;
  private leader = false;
  private stopped = false;
  private retry: NodeJS.Timeout | null = null;

  constructor(
    private readonly election: Election,
    private readonly candidate: string,
    private readonly log: (msg: string, err?: Error) => void,
  ) {}

  start(): void {
    if (this.stopped) return;
    const c = this.election.campaign(this.candidate);
    this.campaign = c;
    c.on('elected', () => {
      if (this.campaign !== c) return;
      this.leader = true;
      this.log(`elected leader (${this.candidate})`);
    });
    c.on('error', (err: Error) => {
      if (this.campaign !== c) return;
      this.campaign = null;
      if (this.leader) this.log('lost the lead', err);
      this.leader = false;
      void c.resign().catch(() => undefined);
      if (this.stopped) return;
      this.retry = setTimeout(() => this.start(), 1000);
      this.retry.unref();
    });
  }

  isLeader(): boolean {
    return this.leader;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.leader = false;
    if (this.retry !== null) clearTimeout(this.retry);
    const c = this.campaign;
    this.campaign = null;
    if (c !== null) await c.resign().catch(() => undefined);
  }
}
