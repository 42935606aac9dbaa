/**
 * Test support for the endpoint stage (and stacks that end in it): a LeaseSource whose permits
 * and lease requests the test sees and answers by hand, leases that record what is done with
 * them, and attempt starters that hand out FakeAttempts. No sockets.
 */
import assert from 'node:assert/strict';
import type { Exchange } from '../pipeline/exchange.js';
import type { Http1Lease, Http2Lease, Lease, LeaseCallback, LeaseSource, Permit } from '../pipeline/lease.js';
import type { LocalReply, ResponseHandler } from '../pipeline/service.js';
import type { AttemptStarters, StartableAttempt } from '../stages/context.js';
import { FakeAttempt } from './stage-harness.js';
import type { FakeAttemptInit } from './stage-harness.js';

/** A lease that records how it was given back. */
export class FakeLease implements Lease {
  readonly releases: { reusable: boolean; failed: boolean; grpcStatus: number | undefined }[] = [];
  unavailableCalls = 0;
  heads: number[] = [];

  constructor(
    readonly peer = 'spiffe://test.local/ns/default/sa/up',
    readonly failoverKey: object | undefined = undefined,
    readonly responseHeaders: readonly string[] | undefined = undefined,
    readonly reused = false,
  ) {}

  unavailable(): void {
    this.unavailableCalls++;
  }
  onResponseHead(status: number): void {
    this.heads.push(status);
  }
  release(reusable: boolean, failed: boolean, grpcStatus?: number): void {
    this.releases.push({ reusable, failed, grpcStatus });
  }
}

export class CountingPermit implements Permit {
  releases = 0;
  release(): void {
    this.releases++;
  }
}

/** One acquire call as the source saw it. */
export interface LeaseWant {
  readonly ex: Exchange;
  /** A copy of the excluded keys at the time of the call. */
  readonly exclude: object[] | undefined;
  readonly fresh: boolean;
  readonly cb: LeaseCallback;
  withdrawn: boolean;
}

/**
 * A LeaseSource answered by the test: `admit` gives a CountingPermit (or `refuse`);
 * `acquire` records the request and, with `autoLease` set, lends at once (synchronously).
 */
export class FakeLeaseSource implements LeaseSource {
  refuse: LocalReply | null = null;
  readonly permits: CountingPermit[] = [];
  readonly wants: LeaseWant[] = [];
  /** Lends synchronously inside acquire when set (called with the request's index). */
  autoLease: ((i: number) => FakeLease) | null = null;

  admit(): Permit | LocalReply {
    if (this.refuse !== null) return this.refuse;
    const p = new CountingPermit();
    this.permits.push(p);
    return p;
  }

  acquire(ex: Exchange, want: { exclude: ReadonlySet<object> | undefined; fresh: boolean }, cb: LeaseCallback): () => void {
    const w: LeaseWant = { ex, exclude: want.exclude === undefined ? undefined : [...want.exclude], fresh: want.fresh, cb, withdrawn: false };
    this.wants.push(w);
    const i = this.wants.length - 1;
    if (this.autoLease !== null) cb(null, this.autoLease(i));
    return () => {
      w.withdrawn = true;
    };
  }

  /** Lends `lease` to the i-th request (default: the last). */
  lend(lease: FakeLease, i = this.wants.length - 1): void {
    const w = this.wants[i];
    assert.ok(w !== undefined, `no lease request ${i}`);
    w.cb(null, lease);
  }

  /** Answers the i-th request with a failure. */
  fail(reply: LocalReply, i = this.wants.length - 1): void {
    const w = this.wants[i];
    assert.ok(w !== undefined, `no lease request ${i}`);
    w.cb(reply, null);
  }

  /** Permits taken and not given back (a permit given back twice counts once here). */
  get permitsHeld(): number {
    return this.permits.filter((p) => p.releases === 0).length;
  }
}

/** One attempt started by FakeStarters. */
export interface StartedAttempt {
  readonly ex: Exchange;
  readonly lease: Lease;
  readonly handler: ResponseHandler;
  readonly attempt: FakeAttempt;
  readonly protocol: 'http1' | 'http2';
}

/** AttemptStarters that hand out FakeAttempts; `onStart` may answer synchronously. */
export class FakeStarters implements AttemptStarters {
  readonly started: StartedAttempt[] = [];
  /** Init of the next attempts, by start index (default: a 200). */
  init: (i: number) => FakeAttemptInit = () => ({});
  onStart: ((s: StartedAttempt) => void) | null = null;

  http1(ex: Exchange, lease: Http1Lease, handler: ResponseHandler): StartableAttempt {
    return this.make(ex, lease, handler, 'http1');
  }
  http2(ex: Exchange, lease: Http2Lease, handler: ResponseHandler): StartableAttempt {
    return this.make(ex, lease, handler, 'http2');
  }

  get last(): StartedAttempt {
    const s = this.started[this.started.length - 1];
    assert.ok(s !== undefined, 'no attempt was started');
    return s;
  }

  /** Makes the attempt; its start() records it and runs `onStart` (which may call back at once, as a codec may). */
  private make(ex: Exchange, lease: Lease, handler: ResponseHandler, protocol: 'http1' | 'http2'): StartableAttempt {
    const attempt = new FakeAttempt({ peer: lease.peer, ...this.init(this.started.length) }).bind(ex, handler);
    const s: StartedAttempt = { ex, lease, handler, attempt, protocol };
    return Object.assign(attempt, {
      start: (): void => {
        this.started.push(s);
        this.onStart?.(s);
      },
    });
  }
}
