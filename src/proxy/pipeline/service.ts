import type { ProxyReason } from '../../errors.js';
import type { Exchange } from './exchange.js';

/**
 * The one composition primitive of the request path (after linkerd2-proxy's Service/Layer and
 * undici's dispatch/handler): a Service takes an exchange and a handler and, eventually,
 * calls the handler's final callbacks. A stage is a Service that wraps the next one.
 *
 * Everything is a callback, never a promise: a stage that passes an exchange on costs one
 * method call. A stage that must see what comes back (retries, failover, timeouts) hands the
 * next service its own handler, allocated only for the exchanges it acts on.
 *
 * Contract, for every Service:
 * - after `call(ex, h)`, exactly one of `h.onEnd` / `h.onLocal` is called for this exchange,
 *   unless the exchange is cancelled first (`ex.cancel`): then none is, and whoever holds a
 *   resource for it (a queue place, a connection, a permit) gives it back.
 * - `onHead` comes before any `onData` and before `onEnd`; `onLocal` may come after `onHead`
 *   (a failure once the response started: the codec can only cut the response then).
 * - callbacks may come synchronously inside `call`.
 */
export interface Service {
  call(ex: Exchange, handler: ResponseHandler): void;
}

/** The response side, from the upstream back towards the downstream codec. */
export interface ResponseHandler {
  /**
   * Interim (1xx) response head other than 101 (HTTP/1 forwards them to HTTP/1.1 clients).
   * `head` is the codec's own form (the same protocol's codec reads it).
   */
  onInterim(ex: Exchange, head: unknown): void;
  /** The final response head; `attempt` answers questions about it and gives flow control. */
  onHead(ex: Exchange, attempt: UpstreamAttempt): void;
  /** Response body bytes, in the protocol's own framing. The handler pauses `attempt` for backpressure. */
  onData(ex: Exchange, chunk: Buffer): void;
  /** The response is complete. `trailers`: the codec's own form, or null. */
  onEnd(ex: Exchange, trailers: unknown): void;
  /**
   * A response the mesh makes (no route, fault, timeout, no upstream...), or a failure after the
   * head went out (the codec then cuts the response and records `reply.reason`).
   */
  onLocal(ex: Exchange, reply: LocalReply): void;
  /**
   * Told only to the handler that started `attempt` (the endpoint stage): a stage above
   * abandoned it (`attempt.abort`) after its head, e.g. to retry. No other callback follows for
   * it; whatever the handler holds for the attempt is given back.
   */
  onAborted?(ex: Exchange, attempt: UpstreamAttempt): void;
}

/**
 * One try of an exchange on one upstream connection, as the stages above see it. Implemented
 * by the codecs' clients (http1/client.ts, http2/client.ts).
 */
export interface UpstreamAttempt {
  /** Final response status (0 before the head). */
  readonly status: number;
  /** The head ended the response (no body follows: HTTP/2 END_STREAM, HTTP/1 no body). */
  readonly endStream: boolean;
  /** grpc-status of a trailers-only response, or of the trailers once they arrived. */
  readonly grpcStatus: number | undefined;
  /** Endpoint SPIFFE ID or app address, for records. */
  readonly peer: string;
  /**
   * The attempt failed before the upstream could have acted on the request (a pooled connection
   * found closed before any response byte, a refused stream): sending it again is safe.
   */
  readonly unsent: boolean;
  /** The first response field with this (lower-case) name. */
  header(name: string): string | undefined;
  pause(): void;
  resume(): void;
  /**
   * Abandons the attempt: the upstream stream or connection is reset and the lease given back.
   * `failed`: counts against the endpoint (a timeout, a discarded retryable answer); a client
   * that left is never an endpoint failure. No handler callback follows. Safe to call twice.
   */
  abort(failed: boolean): void;
}

/** A response made by the mesh itself; `trellis-reason` carries `reason`. */
export interface LocalReply {
  readonly status: number;
  readonly reason: ProxyReason;
  readonly message: string;
  /** Extra response fields, flat [name, value, ...], lower-case names (e.g. `location`). */
  readonly headers?: readonly string[] | undefined;
  /** For gRPC callers: the grpc-status to send instead of the one mapped from `status`. */
  readonly grpcStatus?: number | undefined;
}

export function localReply(status: number, reason: ProxyReason, message: string, headers?: readonly string[], grpcStatus?: number): LocalReply {
  return { status, reason, message, headers, grpcStatus };
}

/** Something an exchange is waiting on (a backoff, a queue place, an attempt): cancel gives it up. */
export interface Cancellable {
  cancel(reason: CancelReason): void;
}

/** Why an exchange is abandoned. Only `timeout` says anything about the upstream. */
export const CancelReason = {
  /** The client went away (closed, reset): never an endpoint failure. */
  Client: 'client',
  /** A deadline of the mesh passed: the endpoint was too slow. */
  Timeout: 'timeout',
} as const;
export type CancelReason = (typeof CancelReason)[keyof typeof CancelReason];

/**
 * Passes every callback on to `next`. Stages that intercept a few callbacks extend it, so a
 * handler says only what it changes.
 */
export class ForwardingHandler implements ResponseHandler {
  constructor(protected readonly next: ResponseHandler) {}
  onInterim(ex: Exchange, head: unknown): void {
    this.next.onInterim(ex, head);
  }
  onHead(ex: Exchange, attempt: UpstreamAttempt): void {
    this.next.onHead(ex, attempt);
  }
  onData(ex: Exchange, chunk: Buffer): void {
    this.next.onData(ex, chunk);
  }
  onEnd(ex: Exchange, trailers: unknown): void {
    this.next.onEnd(ex, trailers);
  }
  onLocal(ex: Exchange, reply: LocalReply): void {
    this.next.onLocal(ex, reply);
  }
}
