import type { Etcd3, IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';

/** How long one member has to answer a keepalive before the next is asked. */
const ATTEMPT_TIMEOUT_MS = 1_500;
/** How long a member that did not answer is asked last. */
const SUSPECT_FOR_MS = 30_000;

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
  suspectForMs?: number;
  now?: () => number;
  /** Told when a member that was fine stops answering (once, not at every renewal). */
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
 * drill). Here each member has its own client; members are asked in turn, each for
 * ATTEMPT_TIMEOUT_MS, and one that did not answer is asked last for SUSPECT_FOR_MS, so with a
 * majority of members up a renewal reaches a live one within a few seconds at worst, and
 * usually at once.
 */
export class LeaseRenewer {
  private readonly members: Member[];
  private readonly attemptTimeoutMs: number;
  private readonly suspectForMs: number;
  private readonly now: () => number;
  private readonly log: (msg: string, err?: Error) => void;

  constructor(urls: readonly string[], o: LeaseRenewerOptions) {
    this.members = urls.map((url) => ({ url, client: o.clientFor(url), suspectUntil: 0 }));
    this.attemptTimeoutMs = o.attemptTimeoutMs ?? ATTEMPT_TIMEOUT_MS;
    this.suspectForMs = o.suspectForMs ?? SUSPECT_FOR_MS;
    this.now = o.now ?? Date.now;
    this.log = o.log ?? (() => {});
  }

  /**
   * Renews the lease once. True when etcd restarted its TTL, false when etcd no longer knows it
   * (expired or revoked). Rejects only when no member answered, with every member's reason.
   */
  async renew(leaseId: string): Promise<boolean> {
    const reasons: string[] = [];
    for (const m of this.order()) {
      try {
        const alive = await this.keepAlive(m, leaseId);
        m.suspectUntil = 0;
        return alive;
      } catch (err) {
        const now = this.now();
        if (m.suspectUntil <= now) this.log(`etcd member ${m.url} did not renew a lease; asking it last for ${this.suspectForMs / 1000} s`, err as Error);
        m.suspectUntil = now + this.suspectForMs;
        reasons.push(`${m.url}: ${(err as Error).message}`);
      }
    }
    throw new Error(`no etcd member renewed lease ${leaseId} (${reasons.join('; ')})`);
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

  /** One keepalive on one member, given ATTEMPT_TIMEOUT_MS from opening the stream to the answer. */
  private async keepAlive(m: Member, leaseId: string): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    let stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> | undefined;
    let timedOut = false;
    try {
      const res = await new Promise<ILeaseKeepAliveResponse>((resolve, reject) => {
        timer = setTimeout(() => {
          timedOut = true;
          reject(new Error(`no keepalive answer in ${this.attemptTimeoutMs} ms`));
        }, this.attemptTimeoutMs);
        m.client.leaseClient.leaseKeepAlive().then((s) => {
          stream = s;
          // Opened after the attempt gave up: closed below (finally ran before it existed).
          if (timedOut) return close(s);
          s.on('data', resolve);
          s.on('error', reject);
          s.write({ ID: leaseId });
        }, reject);
      });
      return Number(res.TTL) > 0;
    } finally {
      clearTimeout(timer);
      if (stream !== undefined) close(stream);
    }
  }
}

/**
 * Ends and cancels a keepalive stream: one on a silent member would otherwise stay open until
 * gRPC's keepalive gives the connection up. The cancel's error goes to a settled `reject`, or here.
 */
function close(s: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>): void {
  s.on('error', () => undefined);
  s.end();
  s.cancel();
}
