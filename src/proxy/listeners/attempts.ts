import type { Clock } from '../clock/clock.js';
import { Http1Attempt } from '../http1/client.js';
import type { Http1Limits } from '../http1/types.js';
import { Http2Attempt } from '../http2/client.js';
import type { AttemptStarters } from '../stages/context.js';

/** The codecs' clients, as the endpoint stage makes them (it never imports a codec itself). */
export function attemptStarters(limits: Http1Limits, clock: Clock): AttemptStarters {
  return {
    http1: (ex, lease, handler) => new Http1Attempt(ex, lease, handler, limits),
    http2: (ex, lease, handler) => new Http2Attempt(ex, lease, handler, clock),
  };
}
