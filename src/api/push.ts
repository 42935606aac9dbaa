import type { ProxySnapshot } from './snapshot.js';

/**
 * The push API: HTTP/2 over TLS on the control plane's push port.
 *
 * POST PUSH_PATH_CERTIFICATE  (server-authenticated TLS; the proxy has no certificate yet)
 *   body CertificateRequest (with token) -> 200 CertificateResponse | 4xx ErrorBody
 * POST PUSH_PATH_ROTATE       (mTLS with the proxy's current certificate)
 *   body CertificateRequest (no token; identity comes from the presented certificate)
 * POST PUSH_PATH_STREAM       (mTLS) long-lived bidirectional stream of newline-delimited
 *   JSON: the proxy sends ProxyMessage lines, the control plane ControlMessage lines.
 *   The proxy's first line is `hello`. The control plane answers with the current snapshot
 *   unless `hello.lastVersion` already equals it. The proxy answers every snapshot with
 *   `ack` or `nack`. Either side sends `ping` every PUSH_PING_INTERVAL_MS; a stream silent
 *   for three intervals is dead and the proxy reconnects with exponential backoff.
 */
export const PUSH_PATH_CERTIFICATE = '/trellis.v1/certificate';
export const PUSH_PATH_ROTATE = '/trellis.v1/rotate';
export const PUSH_PATH_STREAM = '/trellis.v1/stream';
export const PUSH_PING_INTERVAL_MS = 5000;

export interface CertificateRequest {
  csrPem: string;
  /** Only on PUSH_PATH_CERTIFICATE. */
  token?: string;
  nodeId: string;
}

export interface CertificateResponse {
  /** Leaf first, then intermediates (none today). */
  certChainPem: string[];
  trustBundlePem: string[];
  notAfter: string; // ISO 8601
}

export interface ErrorBody {
  error: { code: string; message: string };
}

export interface ProxyStatusReport {
  certNotAfter: string;
  certSerial: string;
  /** mTLS handshakes this proxy completed / refused since start, both directions. */
  tlsHandshakes: number;
  tlsFailures: number;
  /** Number of peers whose SPIFFE ID this proxy verified since start. */
  peersVerified: number;
  adminUrl: string;
  /**
   * Plaintext connections accepted since start, per PERMISSIVE inbound port (absent: none is
   * PERMISSIVE). The dashboard shows them, so an operator knows when STRICT is safe.
   */
  plaintextConnections?: Record<string, number>;
}

export type ProxyMessage =
  | { type: 'hello'; nodeId: string; lastVersion: number | null; status: ProxyStatusReport }
  | { type: 'ack'; version: number }
  | { type: 'nack'; version: number; error: string }
  | { type: 'status'; status: ProxyStatusReport }
  | { type: 'ping' };

export type ControlMessage = { type: 'snapshot'; snapshot: ProxySnapshot } | { type: 'ping' };
