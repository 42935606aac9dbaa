import http2 from 'node:http2';
import type { OutgoingHttpHeaders } from 'node:http2';
import type { Http2Upstream, StreamRequestInfo } from './types.js';

/** A mirrored stream never lives longer than this, whatever the mirror does. */
export const MIRROR_LIMIT_MS = 10_000;

const { NGHTTP2_CANCEL } = http2.constants;

function ignore(): void {}

/**
 * Sends a copy of a finished request (head, kept body, trailers) to a mirror upstream and
 * discards its response. Fire and forget: nothing here can reach the primary stream, every
 * error is swallowed, and the stream is reset after MIRROR_LIMIT_MS.
 */
export function mirrorRequest(
  upstream: Http2Upstream,
  head: OutgoingHttpHeaders,
  body: readonly Buffer[],
  trailers: OutgoingHttpHeaders | null,
  req: StreamRequestInfo | undefined,
): void {
  try {
    upstream.acquire((failure, lease) => {
      if (failure !== null || lease === null) return;
      let released = false;
      const release = (failed: boolean): void => {
        if (released) return;
        released = true;
        lease.release(failed);
      };
      try {
        const endStream = body.length === 0 && trailers === null;
        const up = lease.session.request(head, { endStream, waitForTrailers: trailers !== null });
        const limit = setTimeout(() => up.close(NGHTTP2_CANCEL), MIRROR_LIMIT_MS);
        limit.unref();
        up.on('error', ignore);
        up.once('response', (h) => lease.onResponseHead?.(Number(h[':status'] ?? 0)));
        up.once('wantTrailers', () => up.sendTrailers(trailers ?? {}));
        up.once('close', () => {
          clearTimeout(limit);
          release((up.rstCode ?? 0) !== 0);
        });
        up.resume();
        if (!endStream) {
          for (const chunk of body) up.write(chunk);
          up.end();
        }
      } catch {
        release(true);
      }
    }, req);
  } catch {
    // a mirror never affects the primary
  }
}
