import type { Clock } from '../clock/clock.js';
import { startHttp1Attempt } from '../http1/client.js';
import type { Http1Limits } from '../http1/types.js';
import { startHttp2Attempt } from '../http2/client.js';
import type { AttemptStarters } from '../stages/context.js';

/** The codecs' clients, as the endpoint stage starts them (it never imports a codec itself). */
export function attemptStarters(limits: Http1Limits, clock: Clock): AttemptStarters {
  return {
    http1: (ex, lease, handler) => startHttp1Attempt(ex, lease, handler, limits),
    http2: (ex, lease, handler) => startHttp2Attempt(ex, lease, handler, clock),
  };
}
