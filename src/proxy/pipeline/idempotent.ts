/**
 * The one idempotency rule of the proxy (RFC 9110 §9.2.2): a request with one of these methods
 * may be sent again after a failure that may have reached the upstream (a reset, a timeout).
 * The retry stage and the endpoint stage's failover both ask here.
 */
export function isIdempotent(method: string): boolean {
  switch (method) {
    case 'GET':
    case 'HEAD':
    case 'OPTIONS':
    case 'PUT':
    case 'DELETE':
    case 'TRACE':
      return true;
    default:
      return false;
  }
}
