import type { Etcd3, IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';

/** How long one member has to answer a keepalive before the next is asked as well. */
const ATTEMPT_TIMEOUT_MS = 1_500;
/** How long a renewal waits in all for any member's answer. */
const RENEW_TIMEOUT_MS = 5_000;
/** How long a member that did not answer in time is asked last. */
const SUSPECT_FOR_MS = 30_000;

type KeepAliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;

/** One etcd member as the renewer sees it. */
interface Member {
  readonly url: string;
  readonly client: Etcd3;
  /** Until when it is asked last (0: not suspect). */
  suspectUntil: number;
}

export interface LeaseRenewerOptions {
  /** One etcd3 client per member URL (a one-host client: this class chooses the member). */
  clientFor: (url: string) => Etcd3;
  attemptTimeoutMs?: number;
  renewTimeoutMs?: number;
  suspectForMs?: number;
  now?: () => number;
  /** Told when a member that was fine fails or is slow to answer (once, not at every renewal). */
  log?: (msg: string, err?: Error) => void;
}

/**
 * Renews leases any replica granted (an agent's lease may have been granted by another
 * replica, so etcd3's Lease object, which renews only its own, cannot), from whichever etcd
 * member answers.
 *
 * Why not one keepalive on the shared client: etcd renews a lease only over the LeaseKeepAlive
 * stream, and etcd3's pool opens each stream on a member picked at random, without learning
 * anything from a stream that never answers. A member cut off the network (no FIN, no RST)
 * swallows every stream opened on it, so a third of an agent's renewals failed for as long as
 * it was gone; an agent whose renewals all landed there lost its lease and every endpoint while
 * it was alive (a caller's snapshot lost the whole service for a moment: found by the host-cut
 * drill).
 *
 * Here each member has its own client. A renewal asks the first member; if it has not answered
 * in ATTEMPT_TIMEOUT_MS (or failed), the next is asked as well, and so on, the first answer
 * winning; the earlier ones stay in the race, so a member that is only slow (a loaded host, a
 * leader election) still counts. A member that failed or was slow is asked last for
 * SUSPECT_FOR_MS. With a majority of members up, a renewal reaches a live one within seconds at
 * worst, and usually at once.
 */
export class LeaseRenewer {
  private readonly members: Member[];
  private readonly attemptTimeoutMs: number;
  private readonly renewTimeoutMs: number;
  private readonly suspectForMs: number;
  private readonly now: () => number;
  private readonly log: (msg: string, err?: Error) => void;

  constructor(urls: readonly string[], o: LeaseRenewerOptions) {
    this.members = urls.map((url) => ({ url, client: o.clientFor(url), suspectUntil: 0 }));
    this.attemptTimeoutMs = o.attemptTimeoutMs ?? ATTEMPT_TIMEOUT_MS;
    this.renewTimeoutMs = Math.max(o.renewTimeoutMs ?? RENEW_TIMEOUT_MS, this.attemptTimeoutMs);
    this.suspectForMs = o.suspectForMs ?? SUSPECT_FOR_MS;
    this.now = o.now ?? Date.now;
    this.log = o.log ?? (() => {});
  }

  /**
   * Renews the lease once. True when etcd restarted its TTL, false when etcd no longer knows it
   * (expired or revoked). Rejects when no member answered in time, with every member's reason.
   */
  renew(leaseId: string): Promise<boolean> {
    const order = this.order();
    return new Promise<boolean>((resolve, reject) => {
      const streams: KeepAliveStream[] = [];
      const reasons = new Map<Member, string>();
      let started = 0;
      let settled = false;
      let hedge: NodeJS.Timeout | undefined;
      const deadline = setTimeout(() => {
        for (const m of order.slice(0, started)) if (!reasons.has(m)) reasons.set(m, `no keepalive answer in ${this.renewTimeoutMs} ms`);
        finish(() => reject(this.noAnswer(leaseId, order, reasons)));
      }, this.renewTimeoutMs);
      const finish = (settle: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(hedge);
        clearTimeout(deadline);
        for (const s of streams) close(s);
        settle();
      };
      const failed = (m: Member, err: Error): void => {
        if (settled || reasons.has(m)) return;
        reasons.set(m, err.message);
        this.suspect(m, err);
        if (reasons.size === order.length) finish(() => reject(this.noAnswer(leaseId, order, reasons)));
        // The newest attempt failed: the next need not wait for its timer.
        else if (m === order[started - 1]) askNext();
      };
      const askNext = (): void => {
        clearTimeout(hedge);
        const m = order[started++];
        if (m === undefined || settled) return;
        hedge = setTimeout(() => {
          this.suspect(m, new Error(`no keepalive answer in ${this.attemptTimeoutMs} ms`));
          askNext();
        }, this.attemptTimeoutMs);
        m.client.leaseClient.leaseKeepAlive().then(
          (s) => {
            if (settled) return close(s);
            streams.push(s);
            s.on('data', (res: ILeaseKeepAliveResponse) => {
              m.suspectUntil = 0;
              finish(() => resolve(Number(res.TTL) > 0));
            });
            s.on('error', (err: Error) => failed(m, err));
            s.write({ ID: leaseId });
          },
          (err: Error) => failed(m, err),
        );
      };
      askNext();
    });
  }

  /** Member URLs in the order the next renewal asks them (tests read it). */
  orderOfUrls(): string[] {
    return this.order().map((m) => m.url);
  }

  close(): void {
    for (const m of this.members) m.client.close();
  }

  /** Members not suspect first (in their given order), then the suspects, the one suspect longest ago first. */
  private order(): Member[] {
    const now = this.now();
    const fine = this.members.filter((m) => m.suspectUntil <= now);
    const suspect = this.members.filter((m) => m.suspectUntil > now).sort((a, b) => a.suspectUntil - b.suspectUntil);
    return [...fine, ...suspect];
  }

  private suspect(m: Member, err: Error): void {
    const now = this.now();
    if (m.suspectUntil <= now) this.log(`etcd member ${m.url} did not renew a lease in time; asking it last for ${this.suspectForMs / 1000} s`, err);
    m.suspectUntil = now + this.suspectForMs;
  }

  private noAnswer(leaseId: string, order: Member[], reasons: ReadonlyMap<Member, string>): Error {
    const why = order.filter((m) => reasons.has(m)).map((m) => `${m.url}: ${reasons.get(m) as string}`);
    return new Error(`no etcd member renewed lease ${leaseId} (${why.join('; ')})`);
  }
}

/**
 * Ends and cancels a keepalive stream: one on a silent member would otherwise stay open until
 * gRPC's keepalive gives the connection up. Its cancel's error is expected and dropped.
 */
function close(s: KeepAliveStream): void {
  s.on('error', () => undefined);
  s.end();
  s.cancel();
}
