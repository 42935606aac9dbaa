/**
 * Request mirroring (shadow traffic): a copy of a complete, kept request goes to each mirror
 * upstream, fire and forget. The copy's Host gets Envoy's `-shadow` suffix (so the shadow
 * service and its logs can tell copies apart) and `connection: close` (a shadow connection is
 * never pooled: it is a fresh socket, read until its response ends, then destroyed). The
 * response is parsed only to know where it ends and is discarded. Nothing here reaches the
 * client's exchange: failures are swallowed, and each copy is bounded by a timeout.
 */
import { ChunkedScanner } from './chunked.js';
import { HeadReader, readResponseHead } from './head-reader.js';
import { withHost } from './head-rewrite.js';
import type { RequestHead } from './parser.js';
import { serializeRequestHead } from './serialize.js';
import type { Http1Limits, Http1Upstream, RequestInfo, UpstreamFailure, UpstreamLease } from './types.js';

/** A mirrored exchange that has not ended by then is cut. */
export const MIRROR_TIMEOUT_MS = 10_000;

/** `host` with `-shadow` added to the host name, before any port: `a:8080` -> `a-shadow:8080`. */
export function shadowHost(host: string): string {
  const colon = host.lastIndexOf(':');
  // A port follows the last colon unless that colon is inside an IPv6 literal ([::1]).
  if (colon > 0 && host.indexOf(']', colon) < 0) return host.slice(0, colon) + '-shadow' + host.slice(colon);
  return host + '-shadow';
}

export interface MirrorOptions {
  stripRequestHeaders?: ReadonlySet<string> | undefined;
  addRequestHeaders?: readonly string[] | undefined;
  limits: Http1Limits;
  /** Defaults to MIRROR_TIMEOUT_MS. */
  timeoutMs?: number;
}

/**
 * Sends `req` (the head as forwarded to the primary, before serialization) with its whole kept
 * body to every upstream in `mirrors`. Returns at once; never throws.
 */
export function sendMirrors(
  mirrors: readonly Http1Upstream[],
  req: RequestHead,
  body: readonly Buffer[] | null,
  opts: MirrorOptions,
): void {
  try {
    const host = shadowHost(req.host ?? '');
    const headers = withHost(req.headers, host);
    const add = opts.addRequestHeaders !== undefined ? [...opts.addRequestHeaders, 'connection', 'close'] : ['connection', 'close'];
    const head = serializeRequestHead({ ...req, headers, host }, {
      stripRequestHeaders: opts.stripRequestHeaders, addRequestHeaders: add, upgrade: false,
    });
    const info: RequestInfo = { method: req.method, target: req.target, host, headers, upgrade: false, fresh: true };
    for (const upstream of mirrors) {
      new MirrorExchange(head, body, req.method, opts.limits, opts.timeoutMs ?? MIRROR_TIMEOUT_MS).start(upstream, info);
    }
  } catch {
    // A mirror must never affect the primary exchange.
  }
}

const enum Rs {
  Head,
  Body,
}

/** One copy in flight: acquire, write, read the response to its end, release. */
class MirrorExchange {
  private lease: UpstreamLease | null = null;
  private timer: NodeJS.Timeout | null = null;
  private done = false;
  private rs: Rs = Rs.Head;
  private readonly reader = new HeadReader();
  private readonly scanner = new ChunkedScanner();
  private remaining = 0;
  private framing: 'length' | 'chunked' | 'close' = 'close';

  constructor(
    private readonly head: Buffer,
    private readonly body: readonly Buffer[] | null,
    private readonly method: string,
    private readonly limits: Http1Limits,
    private readonly timeoutMs: number,
  ) {
    this.onAcquire = this.onAcquire.bind(this);
    this.onData = this.onData.bind(this);
    this.finish = this.finish.bind(this);
  }

  start(upstream: Http1Upstream, info: RequestInfo): void {
    this.timer = setTimeout(this.finish, this.timeoutMs);
    // The proxy's exit must not wait for shadow traffic.
    this.timer.unref();
    try {
      upstream.acquire(info, this.onAcquire);
    } catch {
      this.finish();
    }
  }

  private onAcquire(failure: UpstreamFailure | null, lease: UpstreamLease | null): void {
    if (this.done || failure !== null || lease === null) {
      if (lease !== null) lease.release(true, false);
      this.finish();
      return;
    }
    this.lease = lease;
    const s = lease.socket;
    s.on('data', this.onData);
    s.on('end', this.finish);
    s.on('close', this.finish);
    s.on('error', this.finish);
    s.resume();
    s.cork();
    s.write(this.head);
    const body = this.body;
    if (body !== null) for (let i = 0; i < body.length; i++) s.write(body[i]!);
    s.uncork();
  }

  private onData(chunk: Buffer): void {
    if (this.rs === Rs.Head) {
      this.reader.push(chunk);
      for (;;) {
        const parsed = readResponseHead(this.reader, this.limits, this.method);
        if (parsed.kind === 'incomplete') return;
        if (parsed.kind === 'error') {
          this.finish();
          return;
        }
        if (parsed.status >= 200 || parsed.status === 101) {
          if (this.startBody(parsed.framing, parsed.contentLength)) {
            if (this.reader.length > 0) this.onBody(this.reader.takeAll());
          } else {
            this.finish();
          }
          return;
        }
        // 1xx interim: the final head follows.
      }
    } else if (this.rs === Rs.Body) {
      this.onBody(chunk);
    }
  }

  /** False when the response has no body (it is over). */
  private startBody(framing: string, contentLength: number): boolean {
    if (framing === 'none' || (framing === 'length' && contentLength === 0)) return false;
    this.rs = Rs.Body;
    this.framing = framing === 'length' ? 'length' : framing === 'chunked' ? 'chunked' : 'close';
    this.remaining = contentLength;
    return true;
  }

  private onBody(chunk: Buffer): void {
    if (this.framing === 'length') {
      this.remaining -= chunk.length;
      if (this.remaining <= 0) this.finish();
    } else if (this.framing === 'chunked') {
      if (this.scanner.push(chunk, 0) < 0 || this.scanner.done) this.finish();
    }
    // 'close': read until the upstream closes.
  }

  /** Ends the copy (response over, socket closed, error or timeout): once. */
  private finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const lease = this.lease;
    if (lease === null) return;
    this.lease = null;
    const s = lease.socket;
    s.removeListener('data', this.onData);
    s.removeListener('end', this.finish);
    s.removeListener('close', this.finish);
    s.removeListener('error', this.finish);
    s.on('error', noop);
    s.destroy();
    try {
      lease.release(false, false);
    } catch {
      // Swallowed like every other mirror failure.
    }
  }
}

function noop(): void {
  // Errors of a discarded shadow socket.
}
