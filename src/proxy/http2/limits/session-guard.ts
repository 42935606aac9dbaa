import http2 from 'node:http2';
import type { ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import type { Clock, TimerHandle } from '../../clock/clock.js';
import type { Http2Limits } from './limits.js';

const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;

/** Why the guard closed a session. */
export type SessionCloseReason = 'first-request-timeout' | 'idle' | 'premature-resets';

export interface SessionGuardEvents {
  /** The guard closed the session (a log line, a counter). */
  onSessionClosed?(reason: SessionCloseReason): void;
  /** The guard reset a stream that stalled on the client for streamIdleTimeoutMs. */
  onStreamTimeout?(): void;
}

/** After a GOAWAY(NO_ERROR), how long a session may take to wind down before it is destroyed. */
const CLOSE_GRACE_MS = 5000;

/**
 * Applies the connection and stream timers of `limits` to one server session; call it in the
 * server's 'session' handler. The timers run on the injected `clock`, except the stream idle
 * timer, which is Node's own (only Node sees a stream's frames going out):
 *
 * - first request: armed at once; the session's first complete request head disarms it. On
 *   expiry the session is sent GOAWAY(NO_ERROR) and closed.
 * - idle: armed whenever the last open stream closes; a new stream disarms it. Same expiry.
 * - stream idle: a stream quiet for streamIdleTimeoutMs while waiting on the client is reset
 *   (CANCEL); one that only waits on the app is left alone and re-armed.
 * - premature resets: counted as streams close (Envoy's rule, see Http2Limits).
 *
 * It also raises the connection's receive window to limits.connectionWindowSize.
 */
export function guardSession(session: ServerHttp2Session, limits: Readonly<Http2Limits>, clock: Clock, events: SessionGuardEvents = {}): void {
  let open = 0;
  let total = 0;
  let premature = 0;
  let timer: TimerHandle | null = null;
  let closing = false;

  const stopTimer = (): void => {
    if (timer !== null) clock.clearTimer(timer);
    timer = null;
  };
  const closeSession = (reason: SessionCloseReason, destroyNow: boolean): void => {
    if (closing || session.destroyed) return;
    closing = true;
    stopTimer();
    events.onSessionClosed?.(reason);
    if (destroyNow) {
      session.destroy(undefined, NGHTTP2_ENHANCE_YOUR_CALM);
      return;
    }
    session.close();
    // A client that keeps streams open past the GOAWAY still goes, after a grace.
    timer = clock.setTimer(() => session.destroy(), CLOSE_GRACE_MS);
  };
  const arm = (ms: number, reason: SessionCloseReason): void => {
    stopTimer();
    if (ms > 0) timer = clock.setTimer(() => closeSession(reason, false), ms);
  };

  if (limits.connectionWindowSize > 65_535) {
    try {
      session.setLocalWindowSize(limits.connectionWindowSize);
    } catch {
      // A session already torn down: nothing to guard.
    }
  }
  arm(limits.firstRequestTimeoutMs, 'first-request-timeout');
  session.once('close', () => {
    closing = true;
    stopTimer();
  });

  const onStreamTimeout = function (this: ServerHttp2Stream): void {
    if (this.closed || this.destroyed) return;
    const state = this.state as { remoteClose?: number } | undefined;
    const requestOpen = state?.remoteClose === 0;
    const responseStalled = this.writableLength > 0;
    if (requestOpen || responseStalled) {
      events.onStreamTimeout?.();
      this.close(NGHTTP2_CANCEL);
      return;
    }
    this.setTimeout(limits.streamIdleTimeoutMs, onStreamTimeout); // waiting on the app: not ours to end
  };

  session.on('stream', (stream: ServerHttp2Stream) => {
    open++;
    total++;
    if (!closing) stopTimer();
    const started = clock.now();
    if (limits.streamIdleTimeoutMs > 0) stream.setTimeout(limits.streamIdleTimeoutMs, onStreamTimeout);
    stream.once('close', () => {
      open--;
      if ((stream.rstCode ?? 0) !== 0 && !stream.headersSent && clock.now() - started < limits.prematureResetLifetimeMs) premature++;
      if (limits.prematureResetMinStreams > 0 && total >= limits.prematureResetMinStreams && premature * 2 >= total) {
        closeSession('premature-resets', true);
        return;
      }
      if (open === 0 && !closing) arm(limits.idleTimeoutMs, 'idle');
    });
  });
}
